"""Lesson 03's layer probe: one probe per layer chosen on validation, the best and the worst layer
scored once on test, written once and read back while it stands for the profile and data."""
import pytest

import tlcourse
from tlcourse.lessons import feature_extraction as fe


def test_the_layer_probe_picks_its_layers_on_validation_and_reads_its_file_back(tmp_path, monkeypatch):
    profile = tlcourse.get_profile("smoke")
    record = fe.run_layer_probe(profile, tmp_path)
    val = record["val_by_layer"]
    assert len(val) == 7  # MiniLM-L6: token embeddings and 6 blocks
    assert val[record["best_layer"]] == max(val) and val[record["worst_layer"]] == min(val)
    assert record["metrics"]["accuracy"] == pytest.approx(sum(record["test_correct"]) / len(record["test_correct"]))
    monkeypatch.setattr(fe, "_measure", lambda *args: pytest.fail("measured again"))
    assert fe.run_layer_probe(profile, tmp_path) == record
