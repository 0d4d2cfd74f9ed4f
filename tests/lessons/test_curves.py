"""Lesson 09's learning curves: sizes and the step budget, tables from files, where curves cross."""
import pandas as pd
import pytest

from tlcourse.engine.config import get_profile
from tlcourse.lessons.curves import (COLUMNS, CurveConfig, baselines, crossing, curve_table, describe_crossing,
                             lead_changes, sizes, step_budget)
from tlcourse.engine.data import data_hash
from tlcourse.experiments.protocol import VERSION as PROTOCOL_VERSION
from tlcourse.report.tables import course_table
from tlcourse.engine.records import write_result


def test_sizes_and_the_step_budget():
    cpu, smoke = get_profile("cpu"), get_profile("smoke")
    assert sizes(cpu) == [16, 64, 256, 1000] and sizes(smoke) == [16, 64]
    assert step_budget(cpu) == 8 * 63  # the full-size run's epochs x steps per epoch, for every size
    assert step_budget(smoke) == 4


def table(full=(60, 66, 72, 78), probe=(64, 68, 70, 71)):
    rows = [[m, n, acc, 1.5, 3, 1, 1, 1, 1] for m, accs in (("full", full), ("probe", probe))
            for n, acc in zip([16, 64, 256, 1000], accs)]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_crossing():
    assert crossing(table(), "full", "probe") == 256
    assert crossing(table(), "probe", "full") == 16
    assert crossing(table(full=(50, 50, 50, 50)), "full", "probe") is None
    assert "between 64 and 256 labels full takes the lead" in describe_crossing(table(), "full", "probe")
    assert "no crossing at our scale" in describe_crossing(table(full=(50,) * 4), "full", "probe")
    twice = table(full=(66, 70, 64, 78))  # ahead, ahead, behind, ahead: two changes of lead
    assert lead_changes(twice, "full", "probe") == [(64, 256), (256, 1000)]
    text = describe_crossing(twice, "full", "probe")
    assert "changes 2 time(s)" in text and "between 64 and 256 labels probe takes the lead" in text
    assert "within the seeds' spread" in describe_crossing(table(full=(60, 66, 72, 72)), "full", "probe")
    one = table()[lambda t: (t["size"] == 1000) | (t.method == "full")]
    assert "share one measured size, 1000: +7.0 points" in describe_crossing(one, "full", "probe")


def write(folder, method, seed, acc, train_size=1000, data="rotten_tomatoes", current=True, **extra):
    """A result file; current: it records today's data hash and protocol (the curves read only those)."""
    stamp = {"data_hash": data_hash(CurveConfig().splits()), "protocol": {"version": PROTOCOL_VERSION}}
    write_result(folder, method=method, model="minilm-l6", data=data, profile="cpu", seed=seed,
                 metrics={"accuracy": acc}, trainable_params=10, total_params=100, wall_time_s=2.0, peak_memory_mb=50.0,
                 checkpoint_size_mb=1.0, train_size=train_size, **(stamp if current else {}) | extra)


def test_tables_from_files(tmp_path):
    for seed, acc in enumerate([0.70, 0.72, 0.74]):
        write(tmp_path, "probe", seed, acc)
        write(tmp_path, "probe-n16", seed, acc - 0.1, train_size=16)
    write(tmp_path, "probe-n64", 0, 0.5, train_size=64, current=False)  # an earlier protocol: left out
    write(tmp_path, "lora-r4", 0, 0.9)  # a rank sweep: not on the curve
    write(tmp_path, "zeroshot-lm", 0, 0.6, train_size=0)
    t = curve_table(tmp_path)
    assert list(t["size"]) == [16, 1000] and set(t.method) == {"probe"}
    assert t.accuracy.tolist() == pytest.approx([62, 72]) and t["std"].iloc[1] == pytest.approx(2)
    assert t.seeds.tolist() == [3, 3]
    assert baselines(tmp_path).set_index("method").accuracy["zeroshot-lm"] == pytest.approx(60)
    course = course_table(tmp_path).set_index("method")
    assert course.loc["probe", "measured"].startswith("accuracy 72.0 ± 2.0") and course.loc["probe", "seeds"] == 3
    assert set(course.index) == {"probe", "probe-n16", "probe-n64", "lora-r4", "zeroshot-lm"}


def test_empty_folder(tmp_path):
    assert curve_table(tmp_path).empty and baselines(tmp_path).empty
    with pytest.raises(FileNotFoundError, match="no result files"):
        course_table(tmp_path)


def test_course_table_names_an_adapted_encoder_not_its_cache_folder(tmp_path):
    write_result(tmp_path, method="full", model="data/cache/adapted/minilm-l6-tapt-cpu-bb6dbe3f", data="drugs",
                 profile="cpu", seed=0, metrics={"accuracy": 0.8}, trainable_params=1, total_params=1,
                 wall_time_s=1.0, peak_memory_mb=1.0)
    assert course_table(tmp_path).model.tolist() == ["minilm-l6 adapted (TAPT)"]
