"""The claims registry: one judge for every verdict, judged on unrounded numbers, read from result files."""
from dataclasses import replace

import numpy as np
import pytest

from tlcourse.engine.records import write_json
from tlcourse.report import claims
from tlcourse.report.claims import judge, NOT_RUN, NOT_SHOWN, OPPOSITE, Part, Rule, SHOWN, UNTESTABLE

ITEMS = 400  # test items of a synthetic folder


def _write(folder, method, correct, seeds=(0, 1, 2), data="rotten_tomatoes", model="minilm-l6", **extra):
    """One result file per seed holding per-item correctness, as the lessons write them."""
    for seed in seeds:
        write_json(folder / f"{method}__{model}__{data}__cpu__seed{seed}.json",
                   {"method": method, "model": model, "data": data, "profile": "cpu", "seed": seed,
                    "metrics": {"accuracy": float(np.mean(correct))}, "test_correct": [int(c) for c in correct],
                    "wall_time_s": 1.0} | extra)


def _first(k: int) -> np.ndarray:
    """Items 0..k-1 correct, the rest wrong: nested sets make exact, known differences."""
    return (np.arange(ITEMS) < k).astype(int)


def test_judge_reads_the_whole_interval_against_the_rule():
    assert judge(0.2, 1.5, 0.0) == SHOWN
    assert judge(-0.3, 1.5, 0.0) == NOT_SHOWN
    assert judge(-2.0, -0.1, 0.0) == OPPOSITE
    assert judge(0.0, 1.5, 0.0) == NOT_SHOWN  # touching the line does not clear it
    assert judge(-3.0, -2.5, 3.0, null=0.0) == OPPOSITE and judge(1.0, 2.0, 3.0, null=0.0) == NOT_SHOWN
    assert judge(-5.0, -1.0, -0.5, direction="below") == SHOWN and judge(0.5, 2.0, 0.0, "below") == OPPOSITE


def test_a_verdict_uses_the_unrounded_number_not_its_display():
    ratio = Part("student/teacher", 94.97, 94.1, 95.9, unit="%", rule=Rule(95.0), fmt=".1f")
    assert ratio.measured().startswith("95.0 %") and ratio.verdict == NOT_SHOWN  # shows 95.0, is 94.97
    point = replace(ratio, low=None, high=None)  # one measurement: 94.97 lies below the 95% bar
    assert point.measured() == "95.0 % (no interval)" and point.verdict == OPPOSITE
    gap = Part("full − probe", 2.96, 2.9, 3.1, rule=Rule(3.0, null=0.0))
    for fmt in (".0f", "+.1f", "+.4f"):
        assert replace(gap, fmt=fmt).verdict == NOT_SHOWN  # "+3 (+3 to +3)" at .0f, still not shown


def test_claim_8_lora_against_full(tmp_path):
    _write(tmp_path, "full", _first(320), val_accuracy=0.8)
    _write(tmp_path, "lora", _first(320), val_accuracy=0.8)
    assert claims.verdict(8, tmp_path).verdict == SHOWN  # identical: 0, interval 0 to 0, above -1
    _write(tmp_path, "lora", _first(240), val_accuracy=0.8)
    v = claims.verdict(8, tmp_path)
    assert v.verdict == OPPOSITE and v.estimate == pytest.approx(-20.0) and v.high < -1


def test_claim_8_judges_the_lora_that_validation_chose_not_the_better_on_test(tmp_path):
    _write(tmp_path, "full", _first(320), val_accuracy=0.8)
    _write(tmp_path, "lora", _first(320), val_accuracy=0.7)  # equal to full on test, behind on validation
    _write(tmp_path, "lora-all", _first(240), val_accuracy=0.75)
    v = claims.verdict(8, tmp_path)
    assert v.measured.startswith("lora-all − full") and v.verdict == OPPOSITE
    assert "lora − full +0.0" in v.note


def test_claim_9_student_at_94_97_percent_of_the_teacher_is_not_shown(tmp_path):
    _write(tmp_path, "kd-teacher", _first(300), seeds=(0,), inference_examples_per_s=100.0)
    for seed, k in enumerate((285, 285, 284)):  # 284.67 / 300 = 94.89%
        _write(tmp_path, "kd-student-soft", _first(k), seeds=(seed,), inference_examples_per_s=300.0)
    _write(tmp_path, "kd-student-hard", _first(280), inference_examples_per_s=300.0)
    v = claims.verdict(9, tmp_path)
    assert v.estimate == pytest.approx(100 * 284.6667 / 300, abs=1e-3) and v.estimate < 95
    assert v.verdict == NOT_SHOWN and v.low < 95 < v.high
    assert "3.0 ×" in v.note and "soft − hard targets" in v.note


def test_claim_5_share_of_the_gain_and_when_no_share_can_be_drawn(tmp_path):
    _write(tmp_path, "head", _first(200))
    _write(tmp_path, "full", _first(300))
    _write(tmp_path, "last2", _first(299))
    v = claims.verdict(5, tmp_path)
    assert v.verdict == SHOWN and v.estimate == pytest.approx(99.0) and v.low > 90
    _write(tmp_path, "full", _first(200))
    assert claims.verdict(5, tmp_path).verdict == UNTESTABLE


def test_claim_without_files_says_which_lesson_to_run(tmp_path):
    v = claims.verdict(8, tmp_path / "absent")
    assert v.verdict == NOT_RUN and "run lesson 06 or `make results`" in v.note and str(tmp_path) not in v.note


def test_every_claim_has_a_verdict_and_the_table_shows_them(tmp_path):
    _write(tmp_path, "probe", _first(300))
    _write(tmp_path, "majority", _first(220))
    table = claims.claims_table(tmp_path)
    assert list(table.columns) == ["claim", "expected", "measured", "verdict", "lesson"]
    assert len(table) == 20 == len(claims.CLAIMS)
    assert table.verdict[2] == SHOWN and table.verdict[7] == NOT_RUN
    assert set(table.verdict) <= {SHOWN, NOT_SHOWN, OPPOSITE, UNTESTABLE, claims.NOT_RECORDED, NOT_RUN}


def test_show_prints_one_line_and_its_note_per_claim(tmp_path, capsys):
    _write(tmp_path, "probe", _first(300))
    _write(tmp_path, "majority", _first(220))
    claims.show(3, 8, folder=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[0].startswith("Claim 3") and "SHOWN" in lines[0] and "NOT RUN" in lines[2]
    assert not any(str(tmp_path) in line for line in lines)


def test_claim_2_every_trained_method_against_the_best_zero_shot(tmp_path):
    _write(tmp_path, "zeroshot-lm", _first(240), seeds=(0,), model="smollm2-135m")
    _write(tmp_path, "zeroshot-embed", _first(200), seeds=(0,))
    _write(tmp_path, "full", _first(320))
    _write(tmp_path, "probe", np.roll(_first(250), 10))  # items 10-259: 20 gained on the baseline, 10 lost
    v = claims.verdict(2, tmp_path)
    assert v.verdict == NOT_SHOWN and v.measured.startswith("probe − zeroshot-lm: +2.5 points")
    _write(tmp_path, "probe", _first(300))
    assert claims.verdict(2, tmp_path).verdict == SHOWN
