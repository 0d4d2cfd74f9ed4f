"""Lesson 12 rebuilt (issue 35): the pilot's rule, the sizes, and the lesson's runs in the smoke profile, their
files holding every test answer, regradable by both graders."""
import pytest

from tlcourse.lessons import rlvr
from tlcourse.methods import checkable


def test_the_pilot_rule_skips_guessable_tasks_and_picks_the_most_mixed_groups():
    task = lambda chance, greedy, mixed: {"chance": chance, "greedy_correct": greedy, "mixed_groups": mixed}
    pilot = {"tasks": {"coin": task(0.5, 0.5, 0.9), "solved": task(0.01, 0.95, 0.9), "fair": task(0.01, 0.3, 0.5),
                       "fairer": task(0.05, 0.2, 0.7)}}
    assert rlvr.choose_task(pilot) == "fairer"
    with pytest.raises(ValueError, match="add a task"):
        rlvr.choose_task({"tasks": {"coin": pilot["tasks"]["coin"]}})


def test_every_profile_has_sizes_whose_task_and_batches_fit():
    for name in ("smoke", "cpu", "gpu"):
        sizes = rlvr.reward_sizes(name)
        assert checkable.chance(sizes.task) <= rlvr.MAX_CHANCE and sizes.group >= 2 and sizes.lrs
        assert sizes.prompts_per_step % sizes.micro_batch == 0 and len(sizes.seeds) >= (5 if name != "smoke" else 1)
        assert sizes.test_items <= len(checkable.items(sizes.task, "test"))


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """The smoke lesson's runs, once: pilot, every method at the first seed."""
    folder = tmp_path_factory.mktemp("rlvr")
    pilot = rlvr.run_pilot(out_dir=folder / "pilot")
    return folder, pilot, {m: rlvr.run_method(m, seed=0, out_dir=folder) for m in rlvr.METHODS}


def test_the_pilot_measures_every_candidate(lesson):
    _, pilot, _ = lesson
    assert set(pilot["tasks"]) == set(checkable.TASKS)
    for task, r in pilot["tasks"].items():
        if r["chance"] > rlvr.MAX_CHANCE:
            assert r["skipped"] == "guessable" and task in ("larger", "letter")
        else:
            assert 0 <= r["greedy_correct"] <= 1 and 0 <= r["greedy_loose"] <= 1 and 0 <= r["mixed_groups"] <= 1


def test_each_method_keeps_every_test_answer_and_both_grades_reproduce(lesson):
    folder, _, runs = lesson
    sizes = rlvr.reward_sizes("smoke")
    for method, r in runs.items():
        assert len(r["test_answers"]) == len(r["test_correct"]) == len(r["test_loose"]) == sizes.test_items
        again = rlvr.regrade(r)
        assert again["correct"].tolist() == r["test_correct"] and again["loose"].tolist() == r["test_loose"]
        assert r["metrics"]["accuracy"] == pytest.approx(again["correct"].mean()), method
        if method in rlvr.TRAINED:
            assert r["val_curve"][0]["step"] == 0 and r["best_step"] in [c["step"] for c in r["val_curve"]]
            assert {"reward", "no_signal_groups", "cut_off", "length", "kl"} <= set(r["log"][0]) or method == "sft-own"
            assert (rlvr.adapter_folder(method, 0, rlvr.get_profile()) / "adapter_model.safetensors").exists()
        assert rlvr.run_method(method, seed=0, out_dir=folder)["wall_time_s"] == r["wall_time_s"]  # read back
    assert "pass_at_k" in runs["few-shot"]["metrics"] and runs["grpo-kl"]["lr"] == runs["grpo"]["lr"]


def test_the_tables_and_plots_read_the_runs(lesson):
    folder, _, _ = lesson
    table = rlvr.reward_table(folder)
    assert list(table.method) == list(rlvr.METHODS) and table["chance %"].nunique() == 1
    assert len(rlvr.sampling_table(folder)) == 3 + len(rlvr.TRAINED)
    rlvr.plot_training(folder)
    rlvr.plot_accuracy(folder)
    assert all(line.split(":")[0] in rlvr.TRAINED for line in rlvr.still_rising(folder))
    assert "points" in rlvr.describe(folder, "grpo", "sft-own")
    assert set(rlvr.samples(folder, ["few-shot", "grpo"]).columns) == {"question", "answer", "few-shot", "grpo"}
