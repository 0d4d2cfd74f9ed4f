"""Lesson 12: checkable tasks, the grade of a completion, GRPO's advantages as TRL computes them, and the
lesson's runs in the smoke profile."""
import numpy as np
import pytest
import torch

from tlcourse.lessons import verifiable_rewards as vr
from tlcourse.methods import checkable


@pytest.mark.parametrize("task", list(checkable.TASKS))
def test_splits_are_disjoint_fixed_and_cover_the_task(task):
    splits = {s: checkable.items(task, s) for s in checkable.SHARES}
    questions = [q for s in splits.values() for q, _ in s]
    assert len(questions) == len(set(questions)) == len(checkable.TASKS[task][1]())
    assert checkable.items(task, "test", 5) == splits["test"][:5]


def test_a_right_answer_in_a_sentence_is_correct_but_not_in_format():
    g = checkable.graded(["42", " 42\n", "The answer is 42.", "41", "forty-two", "-3"], [42, 42, 42, 42, 42, -3])
    assert g["correct"].tolist() == [1, 1, 1, 0, 0, 1]
    assert g["format"].tolist() == [1, 1, 0, 1, 0, 1]


def test_english_numbers():
    assert [checkable.english_number(n) for n in (0, 13, 40, 99)] == ["zero", "thirteen", "forty", "ninety-nine"]


def test_group_advantages_are_trls():
    from trl.trainer.utils import nanstd
    rewards = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1])
    groups = rewards.view(-1, 4)
    trl = (groups - groups.mean(1, keepdim=True)) / (nanstd(groups, dim=1).unsqueeze(1) + 1e-4)
    ours = checkable.group_advantages(rewards.numpy(), 4)
    assert np.allclose(ours, trl.ravel().numpy()) and (ours[4:8] == 0).all()  # a uniform group teaches nothing


def test_correctness_reward_reads_conversational_completions():
    completions = [[{"role": "assistant", "content": "12"}], [{"role": "assistant", "content": "13"}]]
    assert checkable.correctness_reward(completions, answer=[12, 12]) == [1.0, 0.0]


def test_unknown_task_or_split_says_what_exists():
    with pytest.raises(ValueError, match="add"):
        checkable.items("multiply", "train")
    with pytest.raises(ValueError, match="validation"):
        checkable.items("add", "dev")


def test_every_profile_has_sizes_whose_grids_and_batches_fit():
    for name in ("smoke", "cpu", "gpu"):
        sizes = vr.reward_sizes(name)
        assert sizes.task in checkable.TASKS and sizes.grpo_lrs and sizes.sft_lrs and sizes.group >= 2
        assert sizes.steps * sizes.prompts_per_step <= len(checkable.items(sizes.task, "train"))
        assert sizes.test_items <= len(checkable.items(sizes.task, "test"))


@pytest.mark.parametrize("method", list(vr.METHODS))
def test_each_method_runs_and_records_what_its_table_needs(method, tmp_path):
    r = vr.run_method(method, seed=0, out_dir=tmp_path)
    sizes = vr.reward_sizes("smoke")
    assert len(r["test_correct"]) == len(r["test_format"]) == sizes.test_items
    assert 0 <= r["metrics"]["accuracy"] <= 1 and r["metrics"]["news_ppl"] > 1
    if method in vr.TRAINED:
        assert r["val_curve"][0]["step"] == 0 and r["best_step"] in [c["step"] for c in r["val_curve"]]
        assert r["lr"] in (sizes.sft_lrs if method == "sft-own" else sizes.grpo_lrs)
        assert r["trainable_params"] < 0.1 * r["total_params"]
    else:
        assert r["metrics"]["kl"] == 0.0
    assert vr.run_method(method, seed=0, out_dir=tmp_path)["wall_time_s"] == r["wall_time_s"]  # read back


def test_pilot_measures_every_candidate_and_the_rule_picks_a_usable_task(tmp_path):
    pilot = vr.run_pilot(out_dir=tmp_path)
    assert set(pilot["tasks"]) == set(checkable.TASKS)
    for r in pilot["tasks"].values():
        assert 0 <= r["greedy_correct"] <= 1 and 0 <= r["mixed_groups"] <= 1
    made_up = {"tasks": {"easy": {"greedy_correct": 0.95, "mixed_groups": 0.9},
                         "fair": {"greedy_correct": 0.4, "mixed_groups": 0.5},
                         "fairer": {"greedy_correct": 0.2, "mixed_groups": 0.7}}}
    assert vr.choose_task(made_up) == "fairer"
    with pytest.raises(ValueError, match="add a task"):
        vr.choose_task({"tasks": {"easy": made_up["tasks"]["easy"]}})


def test_a_comparison_where_neither_side_varies_names_the_shares(monkeypatch):
    """No answer in format for either method: "0% for both", not "+0.0 (+0.0 to +0.0)"; a difference
    that varies keeps its interval."""
    import pandas as pd
    rows = [{"method": m, "seed": s, "test_format": [f] * 6, "test_correct": [1, 0, 1, 1, 0, s % 2]}
            for m, f in (("grpo-kl", 0), ("sft-own", 0), ("few-shot", 1)) for s in range(3)]
    monkeypatch.setattr(vr, "_runs", lambda folder: pd.DataFrame(rows))
    line = vr.describe_comparison("x", "grpo-kl", "sft-own", "test_format", unit="points in format")
    assert line == ("grpo-kl vs sft-own: format share 0% for both, on every test question of every seed: "
                    "no difference to test")
    assert vr.describe_comparison("x", "few-shot", "sft-own", "test_format").endswith(
        "few-shot 100%, sft-own 0%, on every test question of every seed: few-shot is ahead")
    varied = vr.describe_comparison("x", "grpo-kl", "sft-own", "test_correct", unit="points of accuracy")
    assert "95% interval" in varied and varied.startswith("grpo-kl vs sft-own: +0.0 points of accuracy")
