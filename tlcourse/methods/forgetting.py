"""Forgetting, measured: does a fine-tuned encoder still know what it knew before?

    before = other_task_correct(load_model("minilm-l6"), tok)     # pretrained features, 0/1 per item
    after = other_task_correct(finetuned.backbone, tok)           # after sentiment fine-tuning
    forgetting_table(before, {"after": after})                     # accuracies, paired changes
MiniLM ships no masked-LM head, so its general knowledge is read through a task it was never
tuned on (BBC news topics): a frozen probe on its mean-pooled features, and a nearest-neighbour
vote that uses the features' geometry as is (no training at all, so more sensitive to drift).
"""
import numpy as np
import pandas as pd

from ..engine.config import get_profile
from ..engine.data import take
from ..engine.loaders import load_dataset
from ..lessons.protocol import paired_bootstrap
from .features import probe, split_features


def other_task_correct(encoder, tokenizer, data: str = "bbc_news", profile=None,
                        seed: int = 0) -> dict:
    """{"probe": ..., "nearest neighbour": ...}: per test item, 1 where `encoder`'s features classify
    it right on `data`, else 0, (N,) each; their means are the accuracies.

    encoder: a transformers encoder returning last_hidden_state (for the course's classifier,
    its `.backbone`); the profile sets how many texts and tokens are used.
    """
    from sklearn.neighbors import KNeighborsClassifier
    profile = profile or get_profile()
    ds = take(load_dataset(data), profile, seed=seed)
    X = split_features(encoder, tokenizer, ds, max_length=profile.max_length)  # (N, C) per split
    y_train, y_test = ds["train"]["label"], np.asarray(ds["test"]["label"])
    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine").fit(X["train"], y_train)
    return {"probe": (probe(X["train"], y_train, seed=seed).predict(X["test"]) == y_test).astype(float),
            "nearest neighbour": (knn.predict(X["test"]) == y_test).astype(float)}


def forgetting_table(before: dict, after: dict):
    """Accuracy % before and after each fine-tune (`after`: {column name: its other_task_correct}), and
    each change in points with its paired 95% interval over the same test items (negative = forgotten)."""
    table = pd.DataFrame({"before %": {m: 100 * v.mean() for m, v in before.items()}})
    for name, correct in after.items():
        table[f"{name} %"] = [100 * correct[m].mean() for m in table.index]
        changes = [paired_bootstrap(100 * correct[m], 100 * before[m]) for m in table.index]
        table[f"change, {name} (pts)"] = [f"{d:+.1f} ({low:+.1f} to {high:+.1f})" for d, low, high in changes]
    return table.round(1)
