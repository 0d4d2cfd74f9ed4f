"""The comparison protocol: fixed validation and test items, early stopping with the best weights
restored, each method's recipe (which weights train, at which rate), and a result cache that
reruns when anything that decides a result has changed."""
import json

import numpy as np
import pandas as pd
import pytest

from tlcourse import get_profile
from tlcourse.engine.data import protocol_splits, training_pool_size, validation_size
from tlcourse.experiments.method_grid import GRID, Experiment, asked, recipe, result_path, run, run_grid
from tlcourse.experiments.protocol import (cost_columns, ONE_SEED, paired_bootstrap, run_cost, SEARCH_IN_COST, SEARCH_TIME,
                                      seed_paired, stored)
from tlcourse.methods.freezing import blocks, head_parameters
from tlcourse.engine.models import classifier


def table(n):
    import datasets
    rows = lambda k, off: {"text": [f"row {off + i}" for i in range(k)], "label": [i % 2 for i in range(k)]}
    return datasets.DatasetDict(train=datasets.Dataset.from_dict(rows(n, 0)),
                                test=datasets.Dataset.from_dict(rows(50, 10_000)))


def test_validation_and_test_are_the_same_for_every_seed_and_never_trained_on():
    profile = get_profile("smoke", train_size=20, eval_size=16)
    ds = table(200)
    a, b = (protocol_splits(ds, profile, seed=s) for s in (0, 1))
    assert a["test"]["text"] == b["test"]["text"] and len(a["test"]) == 16
    assert a["validation"]["text"] == b["validation"]["text"] and len(a["validation"]) == 16
    assert a["train"]["text"] != b["train"]["text"] and len(a["train"]) == 20
    for split in (a, b):
        assert not set(split["train"]["text"]) & set(split["validation"]["text"])
    assert validation_size(200, profile) == 16 and validation_size(50, profile) == 10  # at most a fifth
    assert training_pool_size(ds, profile) == 184


def rates(groups, model):
    """{parameter name: its learning rate} of the trainable parameters in the AdamW groups."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g["lr"] for g in groups for p in g["params"]}


@pytest.mark.parametrize("method", ["last1", "last2", "bitfit", "full", "ulmfit"])
def test_each_method_trains_what_it_says_at_its_rate(method):
    model = classifier("minilm-l6", 2, seed=0)
    exp = Experiment(method, lr=3e-5, head_lr=1e-3, decay=2.0)
    groups, cfg, on_epoch = recipe(exp, get_profile("cpu"), model)
    lr = rates(groups, model)
    names = {id(p): n for n, p in model.named_parameters()}
    head = {names[id(p)] for p in head_parameters(model)}
    block = lambda i: {names[id(p)] for p in blocks(model)[i].parameters()}  # noqa: E731
    top = block(5)
    assert cfg.metric == "accuracy" and cfg.restore_best and cfg.early_stopping_patience == 2
    if method in ("last1", "last2"):
        k = int(method[-1])
        trained = head.union(*(block(i) for i in range(6 - k, 6)))
        assert set(lr) == trained and all(lr[n] == (1e-3 if n in head else 3e-5) for n in lr)
    elif method == "bitfit":
        assert set(lr) == head | {n for n in dict(model.named_parameters()) if n.endswith("bias")}
        assert set(lr.values()) == {3e-5}  # one rate for the small set, the head included
    elif method == "full":
        assert set(lr) == set(dict(model.named_parameters()))
    else:  # ulmfit: every weight in one optimizer, each block 2x slower than the one above
        assert set(lr) == set(dict(model.named_parameters())) and cfg.schedule == "slanted"
        assert all(lr[n] == 3e-5 for n in top) and all(lr[n] == 1.5e-5 for n in block(4))
        on_epoch(0)
        assert {n for n, p in model.named_parameters() if p.requires_grad} == head
        on_epoch(1)
        assert {n for n, p in model.named_parameters() if p.requires_grad} == head | top
        on_epoch(cfg.epochs - 1)
        assert all(p.requires_grad for p in model.parameters())


def test_lora_trains_its_adapters_and_the_head_at_one_rate():
    from tlcourse.experiments.method_grid import build_model
    exp = Experiment("lora", lr=2e-3)
    model = build_model(exp, 2)
    groups, _, _ = recipe(exp, get_profile("cpu"), model)
    lr = rates(groups, model)
    assert lr and all("lora_" in n or "classifier" in n for n in lr) and set(lr.values()) == {2e-3}
    assert any("lora_A" in n for n in lr) and any("classifier" in n for n in lr)


def test_every_trained_method_has_a_grid_and_a_default_inside_it():
    for method, (candidates, default) in GRID.items():
        assert default in candidates and list(candidates) == sorted(candidates)


def test_a_result_file_is_rerun_when_a_field_or_the_protocol_differs(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")
    data = table(120)
    exp = Experiment("majority", data=data)
    record = run(exp, tmp_path)
    profile, path = get_profile(), result_path(exp, tmp_path)
    assert stored(path, asked(exp, profile)) == record
    smaller = Experiment("majority", data=data, train_size=30)
    assert stored(path, asked(smaller, profile)) is None
    stale = json.loads(path.read_text()) | {"protocol": {"version": 1}}
    path.write_text(json.dumps(stale))
    assert stored(path, asked(exp, profile)) is None
    assert run_grid(["majority"], out_dir=tmp_path, data=data)[0]["protocol"] == record["protocol"]


def test_the_rate_is_chosen_on_validation_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")
    import tlcourse.experiments.method_grid as ex
    monkeypatch.setitem(ex.GRID, "probe", ((0.01, 1.0), 1.0))
    ds = table(120)
    seen = []

    def fake_probe(exp, profile, data):  # validation accuracy that prefers C=0.01; no model needed
        seen.append(exp.lr)
        return ({"val_accuracy": 0.9 if exp.lr == 0.01 else 0.6, "trainable_params": 1, "total_params": 2,
                 "checkpoint_size_mb": 0.0}, lambda: np.zeros(len(data.raw["test"]), dtype=int))
    monkeypatch.setitem(ex.RUNNERS, "probe", fake_probe)
    (record,) = run_grid(["probe"], out_dir=tmp_path, data=ds)
    assert record["lr"] == 0.01 and [c["lr"] for c in record["candidates"]] == [0.01, 1.0]
    assert [c["val_accuracy"] for c in record["candidates"]] == [0.9, 0.6]
    assert seen == [0.01, 1.0]  # the winner's seed-0 run is scored, not trained again
    assert len(record["test_correct"]) == record["test_size"] == 50
    run_grid(["probe"], out_dir=tmp_path, data=ds)
    assert seen == [0.01, 1.0]  # the sweep and the result are read back


def test_paired_bootstrap_centres_on_the_gap_and_widens_with_fewer_items():
    rng = np.random.default_rng(0)
    b = rng.integers(0, 2, size=(3, 2000))
    a = np.where(rng.random((3, 2000)) < 0.1, 1, b)  # a fixes about 5% of the items b gets wrong
    mean, low, high = paired_bootstrap(a.mean(0), b.mean(0))  # each item's score averaged over the seeds
    assert mean == pytest.approx((a - b).mean()) and low < mean < high and low > 0
    _, low_small, high_small = paired_bootstrap(a[:, :200].mean(0), b[:, :200].mean(0))
    assert high_small - low_small > high - low


def test_sorted_embedding_equals_unsorted_and_pads_less():
    from tlcourse.methods.features import embed
    from tlcourse.engine.loaders import load_model, load_tokenizer
    model, tok = load_model("minilm-l6", task="base"), load_tokenizer("minilm-l6")
    texts = ["short", "a much longer sentence than the first one, with many more words in it", "mid length text",
             "tiny", "another fairly long sentence that needs padding when batched with short ones"] * 4
    sorted_, unsorted = (embed(model, tok, texts, batch_size=4, progress=False, sort=s) for s in (True, False))
    np.testing.assert_allclose(sorted_, unsorted, atol=2e-2)  # bf16 on CPUs that compute it: padding changes sums
    cos = (sorted_ * unsorted).sum(1) / np.linalg.norm(sorted_, axis=1) / np.linalg.norm(unsorted, axis=1)
    assert cos.min() > 0.999


def test_grid_position_names_the_edges():
    from tlcourse.experiments.protocol import grid_position
    assert grid_position(1e-3, (3e-4, 1e-3, 3e-3)) == "inside its grid"
    assert grid_position(3e-3, (1e-3, 3e-4, 3e-3)) == "the top of its grid"
    assert grid_position(3e-4, (3e-4, 1e-3)) == "the bottom of its grid"
    assert grid_position(1.0, (1.0,)) == "inside its grid"


def test_the_interval_counts_seeds_as_well_as_items():
    """Seeds that disagree widen the interval beyond the item bootstrap's; seeds that agree leave it as it was."""
    rng = np.random.default_rng(3)
    items = 400
    b = (rng.random((3, items)) < 0.6).astype(float)  # (seeds, items)
    spread = np.stack([(rng.random(items) < p).astype(float) for p in (0.9, 0.62, 0.88)])  # runs disagree
    _, low_items, high_items = paired_bootstrap(spread.mean(0), b.mean(0))
    _, low, high = paired_bootstrap(spread, b, over_seeds=True)
    assert high - low > 2 * (high_items - low_items)
    same = np.repeat((rng.random((1, items)) < 0.7).astype(float), 3, axis=0)  # every seed scores alike
    base = np.repeat(b[:1], 3, axis=0)
    assert paired_bootstrap(same, base, over_seeds=True) == paired_bootstrap(same[0], base[0])


def test_seed_paired_prints_each_seed_and_says_when_one_seed_cannot_measure_training_noise():
    rows = [{"method": m, "seed": s, "test_correct": [1, 0, 1, 1] if m == "a" else [0, 0, 1, 1]}
            for m in "ab" for s in (0, 1)]
    d = seed_paired(pd.DataFrame(rows), "a", "b", "test_correct", 100)
    assert d.seeds == 2 and d.per_seed == (25.0, 25.0) and d.spread() == "per seed +25.0 / +25.0"
    one = seed_paired(pd.DataFrame(rows[:1] + rows[2:3]), "a", "b", "test_correct", 100)
    assert one.seeds == 1 and one.spread() == ONE_SEED


def test_costs_leave_out_the_run_that_enclosed_its_search():
    rows = pd.DataFrame({"wall_time_s": [744.0, 260.0, 272.0], "peak_memory_mb": [6494.0, 1794.0, 1908.0],
                         SEARCH_IN_COST: [True, False, False], SEARCH_TIME: [702.0, 702.0, 702.0]})
    assert run_cost(rows) == (266.0, 1851.0)
    assert cost_columns(rows) == {"time s": "266", "peak MB": "1851", "search s": "702"}
    assert run_cost(rows.drop(columns=[SEARCH_IN_COST])) == (272.0, 1908.0)  # older files: every seed counts
