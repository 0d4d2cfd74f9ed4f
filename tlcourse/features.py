"""Feature extraction: a frozen encoder turns texts into vectors once; a cheap probe learns on them.

    X = embed(model, tokenizer, texts)                 # (N, C) mean-pooled last layer
    layers = embed(model, tokenizer, texts, layers="all")  # (L+1, N, C): embeddings + each block
    acc = probe_accuracy(X_train, y_train, X_test, y_test)
"""
import hashlib
import json
from pathlib import Path

import numpy as np

from .config import CACHE


def mean_pool(hidden, mask):
    """Average the token vectors of each text, ignoring padding.  (B, T, C), (B, T) -> (B, C)"""
    mask = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def embed(model, tokenizer, texts, max_length: int = 128, batch_size: int = 64,
          layers: str = "last", progress: bool = True) -> np.ndarray:
    """Mean-pooled hidden states of a frozen encoder: (N, C), or (L+1, N, C) with layers="all"."""
    import torch
    from tqdm.auto import tqdm
    model.eval()
    chunks = []
    batches = range(0, len(texts), batch_size)
    with torch.inference_mode():
        for i in tqdm(batches, desc="embedding", disable=not progress):
            enc = tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt").to(model.device)
            out = model(**enc, output_hidden_states=layers == "all")
            states = out.hidden_states if layers == "all" else (out.last_hidden_state,)
            chunks.append(torch.stack([mean_pool(h, enc["attention_mask"]) for h in states]))
    feats = torch.cat(chunks, dim=1).float().numpy()  # (L+1 or 1, N, C)
    return feats if layers == "all" else feats[0]


def cached_embed(name: str, model, tokenizer, texts, **kwargs) -> np.ndarray:
    """embed(), stored under data/cache/features keyed by model, texts and settings."""
    key = hashlib.sha256(json.dumps([name, list(texts), sorted(kwargs.items())]).encode())
    path = Path(CACHE) / "features" / f"{name}-{key.hexdigest()[:16]}.npy"
    if path.exists():
        return np.load(path)
    feats = embed(model, tokenizer, texts, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, feats)
    tmp.replace(path)
    return feats


def probe(X, y, C: float | None = None, seed: int = 0):
    """A logistic-regression probe on standardised features; C=None picks C by 3-fold CV."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    if C is None:
        clf = LogisticRegressionCV(Cs=np.logspace(-3, 1, 5), cv=3, max_iter=2000, l1_ratios=(0.0,),
                                   scoring="accuracy", use_legacy_attributes=False,
                                   random_state=seed)
    else:
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    return make_pipeline(StandardScaler(), clf).fit(X, y)


def probe_accuracy(X_train, y_train, X_test, y_test, **kwargs) -> float:
    return float(probe(X_train, y_train, **kwargs).score(X_test, y_test))


def layer_probe(train_layers, y_train, test_layers, y_test) -> list[float]:
    """Probe accuracy of every layer's features: index 0 = token embeddings, L = last block.

    C is chosen once, by cross-validation on the last layer, and used for every layer.
    """
    C = probe(train_layers[-1], y_train)[-1].C_
    return [probe_accuracy(a, y_train, b, y_test, C=float(np.ravel(C)[0]))
            for a, b in zip(train_layers, test_layers)]


def majority_accuracy(y_train, y_test) -> float:
    """The floor every method must beat: always answer the most common training label."""
    return float(np.mean(np.asarray(y_test) == np.bincount(y_train).argmax()))
