"""Lesson 09's decision explorer: situation + measured curves -> recommendation (no widgets)."""
import pandas as pd
import pytest

from tlcourse.lessons.choosing import Situation, at_size, pareto_front, recommend
from tlcourse.lessons.curves import COLUMNS, ZeroShot

SIZES = [16, 64, 256, 1024]
CURVES = {  # method -> (accuracy % per size, time s, memory MB, saved MB, params)
    "probe": ([60, 65, 68, 70], 5, 100, 0.003, 770),
    "lora": ([55, 62, 71, 77.5], 60, 180, 0.3, 74_000),
    "full": ([55, 63, 72, 78], 100, 350, 86, 22_000_000),
}


def frame(curves=CURVES):
    rows = [[m, n, acc[i], 1.0, 3, t, mem, saved, p]
            for m, (acc, t, mem, saved, p) in curves.items() for i, n in enumerate(SIZES)]
    return pd.DataFrame(rows, columns=COLUMNS)


def zero_shot(accuracy=66.0, memory_mb=700.0, gaps=None):
    """Lesson 02's answer beside CURVES: each point's gap to it, with an interval of ± 3 points
    unless `gaps` gives {(method, size): (low, high)}."""
    gaps = gaps or {}
    rows = []
    for m, (acc, *_) in CURVES.items():
        for n, a in zip(SIZES, acc):
            low, high = gaps.get((m, n), (a - accuracy - 3, a - accuracy + 3))
            rows.append([m, n, a - accuracy, low, high])
    return ZeroShot("zeroshot-lm", "smollm2-135m", accuracy, 14.0, memory_mb, 1000,
                    pd.DataFrame(rows, columns=["method", "size", "estimate", "low", "high"]))


def test_zero_shot_is_the_answer_where_no_trained_method_clears_it():
    rec = recommend(Situation(labels=16), frame(), zero_shot())  # every method 6 to 11 points below
    assert rec.method == "zeroshot-lm" and rec.accuracy == 66 and rec.time_s == 0 and rec.saved_mb == 0
    assert rec.why[0].startswith("don't train: at 16 labels no trained method")
    assert any(line.startswith("probe (60.0%) is -6.0 points against zero-shot") and line.endswith("below it.")
               for line in rec.why)
    tied = recommend(Situation(labels=64), frame(), zero_shot())  # probe 65: its interval holds 0
    assert tied.method == "zeroshot-lm" and any("not told apart from it" in line for line in tied.why)
    rec = recommend(Situation(labels=1024), frame(), zero_shot())  # every method clears it
    assert rec.method == "lora" and any(line.startswith("lora is +11.5 points against zero-shot") for line in rec.why)


def test_a_method_below_zero_shot_is_never_recommended():
    below = {("full", n): (-5.0, -0.5) for n in SIZES}  # full: more accurate than zero-shot, interval below 0
    low_bar = zero_shot(accuracy=40.0, gaps=below)
    for labels in (16, 40, 64, 256, 1024, 5000):
        for budget in ({}, {"max_time_s": 80}, {"max_memory_mb": 400}, {"max_memory_mb": 500, "tolerance": 0}):
            s = Situation(labels=labels, **budget)
            rec = recommend(s, frame(), low_bar)
            assert rec.method != "full", (s, rec.why)
            picked = rec.options.loc[rec.method]
            assert rec.method == "zeroshot-lm" or picked.low > 0, (s, rec.why)
    # zero-shot over the memory budget: a method not told apart from it may be named, one below it never
    rec = recommend(Situation(labels=1024, max_memory_mb=400, tolerance=0), frame(), low_bar)
    assert rec.method == "lora" and rec.options.loc["full", "fits"]


def test_zero_shot_within_tolerance_wins_the_tie():
    rec = recommend(Situation(labels=1024, tolerance=15), frame(), zero_shot(accuracy=65.0,
                    gaps={(m, 1024): (1.0, 20.0) for m in CURVES}))
    assert rec.method == "zeroshot-lm" and "within 15 point(s) of zero-shot" in rec.why[0]


def test_little_data_favours_the_probe_more_data_flips_it():
    assert recommend(Situation(labels=16), frame()).method == "probe"
    assert recommend(Situation(labels=1024), frame()).method == "lora"  # 0.5 pt below full, cheaper


def test_budget_excludes_full_fine_tuning():
    curves = CURVES | {"lora": ([55, 62, 71, 74], 60, 180, 0.3, 74_000)}
    assert recommend(Situation(labels=1024), frame(curves)).method == "full"
    rec = recommend(Situation(labels=1024, max_time_s=80), frame(curves))
    assert rec.method == "lora"
    assert any(line.startswith("full would reach 78.0%") for line in rec.why)
    assert recommend(Situation(labels=1024, max_memory_mb=150), frame(curves)).method == "probe"
    assert recommend(Situation(labels=1024, max_saved_mb=1), frame(curves)).method == "lora"


def test_ties_go_to_the_cheaper_method():
    rec = recommend(Situation(labels=1024, tolerance=1.0), frame())
    assert rec.method == "lora" and "within 1 point(s) of the most accurate, full" in rec.why[0]
    assert recommend(Situation(labels=1024, tolerance=0.0), frame()).method == "full"
    assert recommend(Situation(labels=1024, tolerance=10.0), frame()).method == "probe"


def test_interpolates_on_log_size_and_clamps():
    at = at_size(frame(), 32)  # halfway between 16 and 64 on a log scale
    assert at.loc["probe", "accuracy"] == pytest.approx(62.5)
    assert at_size(frame(), 5000).loc["full", "accuracy"] == 78
    assert "measured up to 1024" in " ".join(recommend(Situation(labels=5000), frame()).why)


def test_far_domain_adds_lesson_08_advice():
    assert not any("lesson 08" in l for l in recommend(Situation(labels=64), frame()).why)
    far = recommend(Situation(labels=64, domain="far"), frame())
    assert "continue pretraining" in far.why[-1] and "lesson 08" in far.why[-1]


def test_nothing_fits_names_the_cheapest():
    rec = recommend(Situation(labels=64, max_time_s=1), frame())
    assert rec.method == "probe" and rec.why[0].startswith("nothing fits")


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="curve table is empty"):
        recommend(Situation(labels=64), pd.DataFrame(columns=COLUMNS))
    with pytest.raises(ValueError, match="use one of same, near, far"):
        recommend(Situation(labels=64, domain="mars"), frame())
    with pytest.raises(ValueError, match="zero-shot"):
        recommend(Situation(labels=0), frame())


def test_pareto_front():
    points = pd.DataFrame({"accuracy": [70, 78, 72, 69], "time_s": [5, 100, 60, 10]},
                          index=["probe", "full", "lora", "head"])
    assert pareto_front(points, "time_s") == ["probe", "lora", "full"]  # head: dearer and worse


def test_exercise_checks():
    import numpy as np
    from tlcourse.checks.choosing import check_crossing, check_interpolated, check_pareto
    t = frame()
    assert check_interpolated(62.5, t, "probe", 32).startswith("Correct")
    with pytest.raises(AssertionError, match="logarithm"):
        check_interpolated(float(np.interp(32, SIZES, CURVES["probe"][0])), t, "probe", 32)
    with pytest.raises(AssertionError, match="percent"):
        check_interpolated(0.625, t, "probe", 32)
    points = pd.DataFrame({"accuracy": [70, 78, 72, 69], "time_s": [5, 100, 60, 10]},
                          index=["probe", "full", "lora", "head"])
    assert check_pareto(["full", "probe", "lora"], points, "time_s").startswith("Correct")
    with pytest.raises(AssertionError, match="head is not on the front: probe"):
        check_pareto(["full", "probe", "lora", "head"], points, "time_s")
    with pytest.raises(AssertionError, match=r"Missing \['lora'\]"):
        check_pareto(["full", "probe"], points, "time_s")
    assert check_crossing(256, t, "full", "probe").startswith("Correct")
    with pytest.raises(AssertionError, match="where probe reaches full"):
        check_crossing(16, t, "full", "probe")


def test_explorer_builds_and_starts_without_limits():
    from tlcourse.lessons.choosing import explorer
    box = explorer(frame())
    controls = [c for row in box.children[:2] for c in row.children]
    assert [c.description for c in controls] == ["labels", "time s", "memory MB", "saved MB", "domain"]
    assert controls[1].value == 10 ** controls[1].max and controls[2].value == 10 ** controls[2].max  # right end


def test_untouched_sliders_answer_as_if_there_were_no_budget():
    """At every measured size, the explorer's defaults (each budget at its right end, also after a
    browser snaps the value a little) recommend what no budget at all recommends."""
    from tlcourse.lessons.choosing import situation
    table = frame()
    maxima = {"max_time_s": 1000.0, "max_memory_mb": 3500.0, "max_saved_mb": 900.0}
    for labels in sorted(set(table["size"])):
        snapped = {k: v * (1 - 1e-9) for k, v in maxima.items()}
        chosen = recommend(situation({"labels": labels, **snapped, "domain": "same"}, maxima), table)
        assert chosen.method == recommend(Situation(labels), table).method, labels
    below = situation({"labels": 16, "max_time_s": 10.0, "domain": "same"}, maxima)
    assert below.max_time_s == 10.0  # a slider moved left is a real limit


def test_zero_shot_answer_pairs_every_curve_point_on_the_same_reviews(tmp_path):
    from tlcourse.engine.data import data_hash
    from tlcourse.engine.records import write_result
    from tlcourse.lessons.curves import CurveConfig, zero_shot_answer
    from tlcourse.experiments.protocol import VERSION

    def write(method, seed, correct, train_size, eval_size=8, **extra):
        stamp = {"data_hash": data_hash(CurveConfig().splits()), "protocol": {"version": VERSION, "eval_size": eval_size}}
        write_result(tmp_path, method=method, model="minilm-l6", data="rotten_tomatoes", profile="cpu", seed=seed,
                     metrics={"accuracy": sum(correct) / len(correct)}, trainable_params=0, total_params=1,
                     wall_time_s=3.0, peak_memory_mb=700.0, checkpoint_size_mb=0.0, train_size=train_size,
                     test_size=len(correct), test_correct=correct, **stamp | extra)

    assert zero_shot_answer(tmp_path) is None  # nothing run yet
    for seed in range(3):
        write("full-n16", seed, [1, 1, 1, 1, 1, 1, 0, 0], 16)  # 75%
    write("zeroshot-lm", 0, [1, 1, 0, 0, 0, 0, 0, 0], 0)  # 25%, on the same 8 reviews
    zero = zero_shot_answer(tmp_path)
    assert zero.method == "zeroshot-lm" and zero.accuracy == 25 and zero.test_size == 8
    gap = zero.gaps.set_index(["method", "size"]).loc[("full", 16)]
    assert gap.estimate == 50 and 0 < gap.low <= gap.high  # four reviews right where zero-shot was wrong
    write("zeroshot-lm", 0, [1] * 16, 0, eval_size=16)  # other test reviews: not paired
    assert zero_shot_answer(tmp_path) is None
