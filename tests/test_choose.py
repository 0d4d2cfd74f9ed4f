"""Lesson 09's decision explorer: situation + measured curves -> recommendation (no widgets)."""
import pandas as pd
import pytest

from tlcourse.lessons.choosing import Situation, at_size, pareto_front, recommend
from tlcourse.lessons.curves import COLUMNS

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
