"""Forgetting, measured: does a fine-tuned encoder still know what it knew before?

    before = other_task_accuracy(load_model("minilm-l6"), tok)     # pretrained features
    after = other_task_accuracy(finetuned.backbone, tok)           # after sentiment fine-tuning
MiniLM ships no masked-LM head, so its general knowledge is read through a task it was never
tuned on (BBC news topics): a frozen probe on its mean-pooled features, and a nearest-neighbour
vote that uses the features' geometry as is (no training at all, so more sensitive to drift).
"""
import pandas as pd

from ..engine.config import get_profile
from ..engine.data import take
from ..engine.loaders import load_dataset
from .features import probe_accuracy, split_features


def other_task_accuracy(encoder, tokenizer, data: str = "bbc_news", profile=None,
                        seed: int = 0) -> dict:
    """{"probe": ..., "nearest neighbour": ...} test accuracy of `encoder`'s features on `data`.

    encoder: a transformers encoder returning last_hidden_state (for the course's classifier,
    its `.backbone`); the profile sets how many texts and tokens are used.
    """
    from sklearn.neighbors import KNeighborsClassifier
    profile = profile or get_profile()
    ds = take(load_dataset(data), profile, seed=seed)
    X = split_features(encoder, tokenizer, ds, max_length=profile.max_length)  # (N, C) per split
    y_train, y_test = ds["train"]["label"], ds["test"]["label"]
    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine").fit(X["train"], y_train)
    return {"probe": probe_accuracy(X["train"], y_train, X["test"], y_test, seed=seed),
            "nearest neighbour": float(knn.score(X["test"], y_test))}


def forgetting_table(before: dict, after: dict):
    """Before/after accuracies side by side, with the change in points (negative = forgotten)."""
    table = pd.DataFrame({"before %": before, "after %": after}) * 100
    table["change (pts)"] = table["after %"] - table["before %"]
    return table.round(1)
