"""Lesson 03's layer probe as a result file (claim 4, "not all layers are equal").

    record = run_layer_probe()   # every layer's validation accuracy; best and worst scored on test
A probe is fitted on each layer's mean-pooled features (index 0 = token embeddings, L = the last
block), with one C chosen by cross-validation on the last layer; the best and the worst layer are
chosen on validation, and only those two are scored on the test items, once, item by item, so
their difference gets the course's paired interval.
"""
import time
from pathlib import Path

import numpy as np

from ..engine.config import get_profile, RESULTS
from ..engine.data import data_hash, protocol_splits
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.params import count_params
from ..engine.records import result_name, write_result
from ..methods.features import cached_embed, cv_C, layer_probe, probe, probe_params
from ..experiments.protocol import stored, VERSION

MODEL, DATA, METHOD = "minilm-l6", "rotten_tomatoes", "layer-probe"


def run_layer_probe(profile=None, out_dir=None) -> dict:
    """The layer probe's record, read from its result file while it stands for this profile and
    data (protocol.stored), else computed (features come from the lesson's feature cache)."""
    import datasets
    profile = profile or get_profile()
    full = load_dataset(DATA)
    ds = protocol_splits(datasets.DatasetDict(train=full["train"], test=full["test"]), profile)
    path = Path(out_dir or RESULTS / profile.name) / result_name(METHOD, MODEL, DATA, profile.name, 0)
    asked = {"protocol": {"version": VERSION, "train_size": profile.train_size, "eval_size": profile.eval_size,
                          "max_length": profile.max_length, "selection": "best and worst layer on validation"},
             "data_hash": data_hash(ds)}
    return stored(path, asked) or _measure(ds, profile, path.parent, asked)


def _measure(ds, profile, folder, asked: dict) -> dict:
    start = time.perf_counter()
    tok, encoder = load_tokenizer(MODEL), load_model(MODEL)
    feats = {s: cached_embed(MODEL, encoder, tok, ds[s]["text"], max_length=profile.max_length, layers="all",
                             progress=False) for s in ("train", "validation", "test")}  # (L+1, N, C) each
    y = {s: np.asarray(ds[s]["label"]) for s in feats}  # (N,) each
    C = cv_C(feats["train"][-1], y["train"])  # one C for every layer
    val = layer_probe(feats["train"], y["train"], feats["validation"], y["validation"], C=C)
    best, worst = int(np.argmax(val)), int(np.argmin(val))
    fitted = {layer: probe(feats["train"][layer], y["train"], C=C) for layer in (best, worst)}
    correct = {layer: fitted[layer].predict(feats["test"][layer]) == y["test"]
               for layer in fitted}  # (N,) each: the test items, scored once
    written = write_result(folder, method=METHOD, model=MODEL, data=DATA, profile=profile.name, seed=0,
                           metrics={"accuracy": float(correct[best].mean()),
                                    "worst_accuracy": float(correct[worst].mean())},
                           trainable_params=probe_params(fitted[best]), total_params=count_params(encoder)[1],
                           wall_time_s=time.perf_counter() - start, peak_memory_mb=None,
                           val_by_layer=val, best_layer=best, worst_layer=worst, C=C,
                           test_correct=correct[best].astype(int).tolist(),
                           test_correct_worst=correct[worst].astype(int).tolist(), **asked)
    return stored(written, asked)
