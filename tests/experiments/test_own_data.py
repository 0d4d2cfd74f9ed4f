"""A learner's own data through the experiments: a file with other column names, a DatasetDict,
the data hash that makes a changed file rerun, and the course's tables left as they were."""
import json

import pandas as pd
import pytest

from tlcourse.experiments import method_grid as experiments
from tlcourse.engine.config import ROOT
from tlcourse.lessons.curves import CurveConfig, curve_table, run_curves, sizes
from tlcourse.engine.data import DataError, data_hash, load_splits
from tlcourse.experiments.method_grid import Experiment, run, run_grid
from tlcourse.experiments.protocol import VERSION
from tlcourse.report.tables import method_table
from tlcourse.engine.records import write_result

EXAMPLE = ROOT / "data" / "examples" / "product_reviews.csv"
COLUMNS = dict(text_column="review", label_column="verdict")


@pytest.fixture
def reviews(tmp_path):
    """60 rows of the shipped example (columns review, verdict), as a learner's own file."""
    path = tmp_path / "reviews.csv"
    pd.read_csv(EXAMPLE).head(60).to_csv(path, index=False)
    return path


@pytest.fixture
def runs(monkeypatch):
    """The experiments run_grid actually runs (not read from a file), in order."""
    ran, real = [], experiments.run
    monkeypatch.setattr(experiments, "run", lambda exp, *a, **k: ran.append(exp.name) or real(exp, *a, **k))
    return ran


def test_the_shipped_example_is_small_labelled_and_licensed():
    splits = load_splits(EXAMPLE, **COLUMNS)
    assert EXAMPLE.stat().st_size < 100_000 and len(splits["train"]) + len(splits["test"]) == 300
    assert splits["train"].features["label"].names == ["negative", "positive"]
    readme = (EXAMPLE.parent / "README.md").read_text()
    assert EXAMPLE.name in readme and "MIT" in readme and "Hutto" in readme


def test_a_file_with_other_column_names_runs_and_records_its_hash(reviews, tmp_path):
    record = run(Experiment("probe", data=str(reviews), **COLUMNS), out_dir=tmp_path / "out")
    path = tmp_path / "out" / "probe__minilm-l6__reviews__smoke__seed0.json"
    assert json.loads(path.read_text()) == record
    assert record["data"] == "reviews" and record["data_source"] == str(reviews)
    assert record["data_hash"] == data_hash(load_splits(reviews, **COLUMNS))
    assert record["train_size"] == 38 and record["validation_size"] == 10  # a fifth of 48 held out
    assert record["experiment"]["text_column"] == "review"
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0


def test_a_changed_row_reruns_instead_of_reusing(reviews, tmp_path, runs):
    grid = dict(methods=["majority"], data=str(reviews), out_dir=tmp_path / "out", **COLUMNS)
    first = run_grid(**grid)
    assert run_grid(**grid) == first and runs == ["majority"]  # unchanged: read, not rerun
    frame = pd.read_csv(reviews)
    frame.loc[0, "review"] += " (edited)"
    frame.to_csv(reviews, index=False)
    second = run_grid(**grid)
    assert runs == ["majority", "majority"]
    assert second[0]["data_hash"] != first[0]["data_hash"]
    assert second[0]["data_hash"] == data_hash(load_splits(reviews, **COLUMNS))


def test_files_from_before_the_protocol_are_rerun_saying_why(tmp_path, runs, capsys):
    write_result(tmp_path, method="majority", model="minilm-l6", data="rotten_tomatoes", profile="smoke", seed=0,
                 metrics={"accuracy": 0.5}, trainable_params=0, total_params=0, wall_time_s=0.0, peak_memory_mb=0.0,
                 train_size=64)
    record = run_grid(["majority"], out_dir=tmp_path)[0]
    assert runs == ["majority"] and record["protocol"]["version"] == VERSION
    assert "rerunning, since this run asks for another experiment, protocol, data hash" in capsys.readouterr().out


def test_a_datasetdict_runs_the_grid_and_the_curve(tmp_path):
    import datasets
    frame = pd.read_csv(EXAMPLE).head(60).rename(columns={"review": "sentence"})
    frame["stars"] = (frame.verdict == "positive").astype(int)
    parts = {"train": frame[:48], "test": frame[48:]}
    dd = datasets.DatasetDict({s: datasets.Dataset.from_pandas(p[["sentence", "stars"]], preserve_index=False)
                               for s, p in parts.items()})
    config = CurveConfig(methods=("majority",), data=dd, text_column="sentence", label_column="stars")
    assert sizes(config=config) == [16, 38]  # smoke takes 64; 48 training rows less 10 for validation
    records = run_curves(config, out_dir=tmp_path)
    name = f"custom-{records[0]['data_hash'][:8]}"
    assert {r["data"] for r in records} == {name}
    assert records[0]["data_source"] == "DatasetDict(train: 48 rows, test: 12 rows)"
    assert (tmp_path / f"majority-n16__minilm-l6__{name}__smoke__seed0.json").exists()
    assert curve_table(tmp_path, config)["size"].tolist() == [16, 38]


def test_own_results_stay_out_of_the_course_tables(reviews, tmp_path):
    write_result(tmp_path, method="majority", model="minilm-l6", data="rotten_tomatoes", profile="smoke", seed=0,
                 metrics={"accuracy": 0.5}, trainable_params=0, total_params=0, wall_time_s=0.0, peak_memory_mb=0.0,
                 train_size=64)
    run_grid(["majority"], data=str(reviews), out_dir=tmp_path, **COLUMNS)
    assert method_table(tmp_path)["accuracy %"].tolist() == ["50.0 ± 0.0"]  # rotten_tomatoes only
    own = CurveConfig(methods=("majority",), data=str(reviews), **COLUMNS)
    assert curve_table(tmp_path, own)["size"].tolist() == [38]
    assert curve_table(tmp_path, CurveConfig(methods=("majority",))).empty  # a file from before the protocol


def test_a_wrong_column_name_says_which_columns_exist(reviews, tmp_path):
    with pytest.raises(DataError, match=r"no column 'text'.*'review', 'verdict'.*text_column="):
        run_grid(["majority"], data=str(reviews), out_dir=tmp_path)
    import datasets
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sentence": ["a"], "y": [0]}),
                               "test": datasets.Dataset.from_dict({"sentence": ["b"], "y": [0]})})
    with pytest.raises(DataError, match=r"no column 'text'.*'sentence', 'y'"):
        run(Experiment("majority", data=dd), out_dir=tmp_path)
    with pytest.raises(DataError, match="no test split"):
        load_splits(datasets.DatasetDict({"train": dd["train"]}), "sentence", "y")
