"""The committed cpu results of lessons 06 (style), 10, 11 and 12 hold what their tables and the protocol
need, and were made from what the code asks for today (a changed size must be rerun and committed)."""
import json
from dataclasses import asdict

import pytest

from tlcourse.engine.config import RESULTS
from tlcourse.lessons import preference_tuning as pr
from tlcourse.lessons import translation_sft as ts
from tlcourse.experiments.protocol import differences, VERSION
from tlcourse.lessons.translation_sft import translate_sizes

CPU = RESULTS / "cpu"


def _files(pattern):
    files = sorted(CPU.glob(pattern))
    assert files, f"no committed {pattern} under results/cpu/"
    return [json.loads(f.read_text()) for f in files]


def test_lesson_10_files_record_their_sizes_data_and_per_sentence_scores():
    sizes = asdict(translate_sizes("cpu"))
    for r in _files("*__smollm2-135m__bible_fr_en__cpu__seed*.json") + _files("*__smollm2-135m__jupyter_fr_en__cpu__seed*.json"):
        assert r["protocol"] == VERSION and len(r["data_hash"]) == 16, r["method"]
        expected = dict(sizes) if r["data"] == "bible_fr_en" or r["method"] == "zeroshot" else \
            sizes | {"train_pairs": r["in_domain_pairs"]}  # a domain run: its interface pairs (cpu has no "all")
        assert not differences(r, {"sizes": expected}), f"{r['method']} seed {r['seed']}: sizes changed, rerun it"
        assert len(r["sentence_chrf"]) == len(r["hypotheses"]) == r["test_pairs"]
        assert 0 <= r["metrics"]["chrf"] <= 100
        if r["method"] in ts.SFT_METHODS:
            grid = ts.rate_grid(r["method"], translate_sizes("cpu"))
            assert [c["lr"] for c in r["candidates"]] == list(grid) and r["lr"] in grid


@pytest.mark.parametrize("method", list(pr.METHODS))
def test_lesson_11_files_name_their_sizes_judge_and_pairs(method):
    sizes = json.loads(json.dumps(asdict(pr.preference_sizes("cpu"))))
    runs = _files(f"{method}__smollm2-135m__rt_continuations__cpu__seed*.json")
    assert sorted(r["seed"] for r in runs) == list(sizes["seeds"])
    for r in runs:
        assert not differences(r, {"sizes": sizes}) and r["protocol"] == VERSION and r["judge"].startswith("full__minilm-l6")
        assert len(r["prompt_positive_share"]) == sizes["test_prompts"]
        assert r["test_openings"] == [sizes["dev_prompts"], sizes["dev_prompts"] + sizes["test_prompts"]]
        if method != "before":
            grid = sizes["dpo_lrs"] if method in pr.BETAS else sizes["sft_lrs"]
            assert [c["lr"] for c in r["candidates"]] == list(grid) and r["lr"] in grid


def test_lesson_11_test_openings_are_not_the_development_openings_earlier_sizes_were_measured_on():
    sizes = pr.preference_sizes("cpu")
    development = set(pr.prompts("development", sizes))
    for r in _files("*__smollm2-135m__rt_continuations__cpu__seed*.json"):
        scored = [s["prompt"] for s in r["samples"]]
        assert scored == pr.prompts("test", sizes) and not development & set(scored), r["method"]


def test_lesson_06_style_files_record_their_sizes_and_both_sides():
    from tlcourse.lessons import style
    sizes = json.loads(json.dumps(asdict(style.style_sizes("cpu"))))
    runs = _files("style-lora__smollm2-135m__hamlet__cpu__seed*.json")
    assert sorted(r["seed"] for r in runs) == list(sizes["seeds"])
    for r in runs:
        assert not differences(r, {"sizes": sizes}) and r["protocol"] == VERSION
        for side in ("before", "after"):
            assert len(r[side]["samples"]) == len(r[side]["eme"]) == len(r[side]["layout"])
            assert len(r[side]["block_loss"]) == r["test_blocks"]


def test_lesson_12_task_is_the_pilots_choice_and_its_files_record_their_sizes():
    """Every method of lesson 12 has a result file per seed, made from the sizes the cpu profile asks now."""
    from tlcourse.lessons import verifiable_rewards as vr
    pilot = json.loads((CPU / "pilot" / "verifiable-rewards-pilot.json").read_text())
    sizes = vr.reward_sizes("cpu")
    assert vr.choose_task(pilot) == sizes.task
    plain = json.loads(json.dumps(asdict(sizes)))
    for method in vr.METHODS:
        runs = [json.loads(f.read_text()) for f in sorted(CPU.glob(f"{method}__smollm2-135m__{vr.DATA}__cpu__seed*.json"))]
        assert sorted(r["seed"] for r in runs) == list(sizes.seeds), method
        for r in runs:
            assert not differences(r, {"sizes": plain}) and r["protocol"] == VERSION
            assert len(r["test_correct"]) == len(r["test_format"]) == sizes.test_items
            if method in vr.TRAINED:
                grid = sizes.sft_lrs if method == "sft-own" else sizes.grpo_lrs
                assert [c["lr"] for c in r["candidates"]] == list(grid) and r["lr"] in grid


def test_rebuilt_lesson_12_files_hold_every_test_answer_and_both_graders_reproduce_them():
    """Every committed run of lesson 12 as rebuilt (issue 35; its runs are still coming in) was made from the
    sizes asked now, and its stored answers, graded again by both graders, give its stored grades and accuracies."""
    from tlcourse.lessons import rlvr
    folder = RESULTS / "rebuilt-12" / "cpu"
    pilot = json.loads((folder / "pilot" / "contract-pilot.json").read_text())
    sizes = rlvr.reward_sizes("cpu")
    assert rlvr.choose_task(pilot) == sizes.task
    runs = [json.loads(f.read_text()) for f in sorted(folder.glob(f"*__smollm2-135m__{rlvr.DATA}__cpu__seed*.json"))]
    assert runs, "no committed run of the rebuilt lesson 12"
    for r in runs:
        assert not differences(r, {"sizes": json.loads(json.dumps(asdict(sizes)))}) and r["protocol"] == VERSION
        again = rlvr.regrade(r)
        assert len(r["test_answers"]) == sizes.test_items
        assert again["correct"].tolist() == r["test_correct"] and again["loose"].tolist() == r["test_loose"]
        assert r["metrics"]["accuracy"] == pytest.approx(again["correct"].mean())
        assert r["metrics"]["loose_accuracy"] == pytest.approx(again["loose"].mean())
        if r["method"] in rlvr.TRAINED and r["method"] not in rlvr.SETTING_FROM:
            tried = sorted(c["value"] for c in r["candidates"])
            assert tried[0] < r["lr"] < tried[-1], f"{r['method']}: its rate is on the edge of {tried}"


def test_lesson_13_pilot_stands_for_the_current_sizes_and_each_format_is_smaller():
    from tlcourse.engine.config import get_profile
    from tlcourse.experiments.protocol import stored
    from tlcourse.lessons import shrink
    pilot = stored(shrink.pilot_file(get_profile("cpu")), shrink.pilot_asked(shrink.shrink_sizes("cpu")))
    assert pilot is not None, "results/cpu/pilot's lesson 13 pilot was made from other sizes: run shrink.run_pilot()"
    memory = [pilot["format_costs"][f]["weights_mb"] for f in ("fp32", "bf16", "int8", "nf4")]
    assert memory == sorted(memory, reverse=True)
    assert pilot["fits"]["qlora"]["weights_mb"] < pilot["fits"]["lora"]["weights_mb"]
