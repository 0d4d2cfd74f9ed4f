"""Lesson 13 (issue 38): its sizes, and the pilot in the smoke profile: every weight format and both fine-tunes
measured on validation, read back instead of rerun."""
import pytest

from tlcourse.lessons import shrink
from tlcourse.methods.quantise import FORMATS


def test_every_profile_sizes_a_pilot_inside_its_training_pairs():
    for name in ("smoke", "cpu", "gpu"):
        sizes = shrink.shrink_sizes(name)
        assert sizes.pilot_pairs <= sizes.train_pairs and sizes.lora_r >= 1 and sizes.news_blocks >= 1


def test_an_unknown_arm_names_the_known_ones():
    with pytest.raises(ValueError, match="lora, qlora"):
        shrink.arm_model("dora", shrink.shrink_sizes("smoke"), 0)


def test_the_pilot_measures_each_format_and_both_fits_and_is_read_back(tmp_path):
    pilot = shrink.run_pilot(out_dir=tmp_path)
    formats, fits = pilot["format_costs"], pilot["fits"]
    assert list(formats) == list(FORMATS) and list(fits) == list(shrink.ARMS)
    memory = {fmt: cost["weights_mb"] for fmt, cost in formats.items()}
    assert memory["nf4"] < memory["int8"] < memory["fp32"] and memory["bf16"] < memory["fp32"]
    sizes = shrink.shrink_sizes("smoke")
    for fmt, cost in formats.items():
        assert ("skipped" in cost) == (not shrink.computes_here(fmt))
        if shrink.computes_here(fmt):
            assert 0 <= cost["val_chrf"] <= 100 and len(cost["val_sentence_chrf"]) == sizes.val_pairs
            assert cost["news_loss"] > 0 and cost["seconds_per_sentence"] > 0
    assert fits["qlora"]["weights_mb"] < fits["lora"]["weights_mb"]
    assert all(f["steps"] >= 1 and f["ms_per_step"] > 0 and f["val_loss"] > 0 for f in fits.values())
    assert shrink.run_pilot(out_dir=tmp_path) == pilot


def test_each_arm_keeps_every_test_verse_and_its_adapters_and_is_read_back(tmp_path):
    sizes = shrink.shrink_sizes("smoke")
    for arm in shrink.ARMS:
        r = shrink.run_arm(arm, seed=0, out_dir=tmp_path)
        assert len(r["test_sentence_chrf"]) == len(r["test_hypotheses"]) == sizes.test_pairs
        assert 0 <= r["metrics"]["chrf"] <= 100 and r["lr"] in [c["lr"] for c in r["candidates"]]
        assert r["metrics"]["ms_per_step"] > 0 and r["trainable_params"] < r["total_params"]
        assert (shrink.adapter_folder(arm, 0, shrink.get_profile()) / "adapter_model.safetensors").exists()
        assert shrink.run_arm(arm, seed=0, out_dir=tmp_path) == r
    assert (tmp_path / "sweep").is_dir()
