"""Forgetting, measured: does a fine-tuned encoder still know what it knew before?

    before = other_task_correct(load_model("minilm-l6"), tok, profile)  # pretrained features, 0/1 per item
    after = other_task_correct(finetuned.backbone, tok, profile)        # after sentiment fine-tuning
    report.tables.forgetting_table(before, {"after": after})       # accuracies, paired changes
MiniLM ships no masked-LM head, so its general knowledge is read through a task it was never
tuned on (BBC news topics): a frozen probe on its mean-pooled features, and a nearest-neighbour
vote that uses the features' geometry as is (no training at all, so more sensitive to drift).
"""
import numpy as np

from ..engine.data import take
from ..engine.loaders import load_dataset
from .features import probe, split_features


def other_task_correct(encoder, tokenizer, profile, data: str = "bbc_news", seed: int = 0) -> dict:
    """{"probe": ..., "nearest neighbour": ...}: per test item, 1 where `encoder`'s features classify
    it right on `data`, else 0, (N,) each; their means are the accuracies.

    encoder: a transformers encoder returning last_hidden_state (for the course's classifier,
    its `.backbone`); the profile sets how many texts and tokens are used.
    """
    from sklearn.neighbors import KNeighborsClassifier
    ds = take(load_dataset(data), profile, seed=seed)
    X = split_features(encoder, tokenizer, ds, max_length=profile.max_length)  # (N, C) per split
    y_train, y_test = ds["train"]["label"], np.asarray(ds["test"]["label"])
    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine").fit(X["train"], y_train)
    return {"probe": (probe(X["train"], y_train, seed=seed).predict(X["test"]) == y_test).astype(float),
            "nearest neighbour": (knn.predict(X["test"]) == y_test).astype(float)}
