"""Lesson 06's style measures, fixed before any result was seen: Early Modern forms and the play's layout."""
from tlcourse.lessons import style


def test_early_modern_forms_are_counted_per_word():
    assert style.eme_counts("Thou hast it, and 'tis thy own; hath he?") == (5, 9)
    assert style.eme_counts("You have it, and it is your own.") == (0, 8)


def test_layout_needs_a_speaker_name_alone_on_its_line():
    assert style.speaker_layout("HAMLET\nTo be, or not to be.")
    assert style.speaker_layout("said.\nKING CLAUDIUS\nHow fares our cousin?")
    assert not style.speaker_layout("Hamlet said: to be, or not to be.")
    assert not style.speaker_layout("I\nam here")  # one capital letter is no name


def test_the_play_itself_is_in_its_own_style():
    play = style.play_reference()
    assert play["layout_share"] > 0.5 and play["eme_per_1000"] > 5


def test_run_style_writes_both_sides_and_reads_them_back(tmp_path, monkeypatch):
    """The fine-tune in the smoke profile: its file holds before and after per block and per sample, the
    table reads it, the adapter is saved, and a second call reads the file instead of training."""
    import math

    import pytest

    from tlcourse.engine.config import get_profile
    monkeypatch.setattr(style, "RUNS", tmp_path / "runs")
    profile, sizes = get_profile("smoke"), style.style_sizes("smoke")
    record = style.run_style(0, out_dir=tmp_path, profile=profile)
    for side in ("before", "after"):
        assert len(record[side]["block_loss"]) == record["test_blocks"]
        assert len(record[side]["samples"]) == len(style.PROMPTS[style.DATA]) * sizes.samples
        assert math.isfinite(record["metrics"][f"style_ppl_{side}"])
    assert style.adapter_dir(0, profile).exists() and record["steps"] >= 1
    assert set(style.style_table(tmp_path).measure) >= {"held-out Hamlet perplexity", "general-news perplexity"}
    monkeypatch.setattr(style, "fit", lambda *args, **kwargs: pytest.fail("trained again"))
    assert style.run_style(0, out_dir=tmp_path, profile=profile) == record
