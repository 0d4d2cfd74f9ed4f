"""The one settings search (protocol.search) and the one "still current?" rule (protocol.stored),
on a small problem: what they choose, what they read back, what they rerun."""
import json
import math

import pytest

from tlcourse.experiments.protocol import ACCURACY, Score, differences, paired_bootstrap, search, stored


def _problem(tmp_path, val, test):
    """A search over three candidates whose validation and test scores disagree."""
    trained = []

    def validate(value):
        trained.append(value)
        return {"val_accuracy": val[value], "val_loss": -val[value]}, {"test": test[value]}

    def run(**kw):
        return search("m", list(val), validate, tmp_path, lambda v: {"grid": "g1", "value": v}, **kw)
    return run, trained


def test_the_search_chooses_on_validation_never_on_test(tmp_path):
    run, trained = _problem(tmp_path, val={1: 0.6, 2: 0.9, 3: 0.7}, test={1: 0.99, 2: 0.5, 3: 0.6})
    choice = run(label=str)
    assert choice.value == 2 and choice.winner[1] == {"test": 0.5}  # the best on validation, though worst on test
    assert [c["value"] for c in choice.candidates] == [1, 2, 3] and trained == [1, 2, 3]
    assert json.loads((tmp_path / "sweep" / "m__2.json").read_text())["val_accuracy"] == 0.9


def test_a_lower_is_better_score_and_ties_keep_the_first(tmp_path):
    run, _ = _problem(tmp_path, val={1: 0.9, 2: 0.9, 3: 0.1}, test={1: 0, 2: 0, 3: 0})
    assert run(label=str).value == 1
    assert run(label=lambda v: f"loss{v}", score=Score("val_loss", higher=False)).value == 1


def test_a_second_search_reads_the_records_and_reuses_no_winner(tmp_path):
    run, trained = _problem(tmp_path, val={1: 0.6, 2: 0.9}, test={1: 0, 2: 0})
    run(label=str)
    again = run(label=str)
    assert trained == [1, 2] and again.value == 2 and again.winner is None  # nothing trained: the caller trains seed 0


def test_a_changed_upstream_reruns_the_candidate(tmp_path, capsys):
    trained = []

    def validate(value):
        trained.append(value)
        return {"val_accuracy": 0.5}, "model"

    for teacher in ("t1", "t1", "t2"):
        search("m", [1], validate, tmp_path, lambda v: {"teacher": teacher}, label=str)
    assert trained == [1, 1]
    assert "rerunning, since this run asks for another teacher" in capsys.readouterr().out


def test_stored_names_what_changed(tmp_path):
    path = tmp_path / "r.json"
    assert stored(path, {"sizes": {"n": 1}}) is None  # missing
    path.write_text(json.dumps({"sizes": {"n": 1, "lrs": [1e-3, 2e-3]}, "metrics": {}}))
    assert stored(path, {"sizes": {"n": 1, "lrs": (1e-3, 2e-3)}})["metrics"] == {}  # tuples read back as lists
    assert differences(json.loads(path.read_text()), {"sizes": {"n": 2, "lrs": [1e-3, 2e-3]}, "judge": "x"}) \
        == ["sizes", "judge"]


def test_more_seeds_keep_the_runs_already_made(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"sizes": {"n": 1, "seeds": [0, 1, 2], "full_seeds": [0]}, "metrics": {}}))
    assert stored(path, {"sizes": {"n": 1, "seeds": (0, 1, 2, 3, 4), "full_seeds": (0, 1)}}) is not None
    assert stored(path, {"sizes": {"n": 2, "seeds": (0, 1, 2)}}) is None


def test_the_paired_bootstrap_takes_any_statistic():
    a, b = [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]
    assert paired_bootstrap(a, b)[0] == pytest.approx(0.5)
    spread = paired_bootstrap([[1, 0], [1, 0]], [[1, 1], [1, 1]], statistic=lambda x: x.mean(1).max(-1) - x.mean(1).min(-1))
    assert spread == (1.0, 1.0, 1.0)
    assert ACCURACY.better({"val_accuracy": 0.6}, {"val_accuracy": 0.5})


def test_a_search_widens_its_grid_until_the_winner_is_inside(tmp_path):
    from tlcourse.experiments.protocol import widening_search
    trained = []

    def validate(lr):  # validation peaks at 3e-2, beyond the grid's top
        trained.append(lr)
        return {"val_accuracy": -abs(math.log(lr / 3e-2))}, f"model at {lr:g}"

    choice = widening_search("m", (1e-3, 3e-3), validate, tmp_path, lambda lr: {"lr": lr})
    assert [c["value"] for c in choice.candidates] == [1e-3, 3e-3, 9e-3, 0.027] and choice.value == 0.027
    assert choice.winner[1] == "model at 0.027" and choice.trained_here and trained == [1e-3, 3e-3, 9e-3, 0.027]
    again = widening_search("m", (1e-3, 3e-3), validate, tmp_path, lambda lr: {"lr": lr})
    assert again.value == 0.027 and again.winner is None and not again.trained_here and len(trained) == 4
    peak = widening_search("p", (1e-1, 3e-1), validate, tmp_path, lambda lr: {"lr": lr}, most=1)
    assert [c["value"] for c in peak.candidates] == [0.0333, 0.1, 0.3] and peak.value == 0.0333  # ran out: on the edge
