"""Feature extraction: a frozen encoder turns texts into vectors once; a cheap probe learns on them.

    X = embed(model, tokenizer, texts)                 # (N, C) mean-pooled last layer
    layers = embed(model, tokenizer, texts, layers="all")  # (L+1, N, C): embeddings + each block
    acc = probe_accuracy(X_train, y_train, X_test, y_test)
    head = train_head(X_train, y_train, X_test, y_test)   # a small torch head on the same vectors
"""
import copy
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..engine.config import CACHE
from ..engine.device import mixed_precision, model_device
from ..engine.infer import over_texts
from ..engine.models import mean_pool




def embed(model, tokenizer, texts, max_length: int = 128, batch_size: int = 64,
          layers: str = "last", progress: bool = True, sort: bool = True) -> np.ndarray:
    """Mean-pooled hidden states of a frozen encoder: (N, C), or (L+1, N, C) with layers="all".

    Texts are batched by length (infer.over_texts): little padding, the same vectors as in any
    order. sort=False batches them as given (to measure what sorting saves)."""

    def pooled(model, batch):  # (B, L+1 or 1, C)
        out = model(**batch, output_hidden_states=layers == "all")
        states = out.hidden_states if layers == "all" else (out.last_hidden_state,)
        return torch.stack([mean_pool(h, batch["attention_mask"]) for h in states], dim=1)

    feats = over_texts(model, tokenizer, texts, pooled, batch_size, max_length, progress, "embedding", sort)
    feats = feats.transpose(0, 1).cpu().numpy()  # (L+1 or 1, N, C)
    return feats if layers == "all" else feats[0]


def cached_embed(name: str, model, tokenizer, texts, timed: bool = False, **kwargs):
    """embed(), stored under data/cache/features keyed by model, texts, settings and precision.

    timed=True returns (features, seconds the embedding took when it was computed), the cost of
    the features from scratch even when they come from the cache."""
    precision = mixed_precision("auto", model_device(model).type)  # what infer.over_texts computes in
    key = hashlib.sha256(json.dumps([name, list(texts), sorted(kwargs.items()), precision]).encode())
    path = Path(CACHE) / "features" / f"{name}-{key.hexdigest()[:16]}.npy"
    seconds = path.with_suffix(".json")
    if not path.exists():
        start = time.perf_counter()
        feats = embed(model, tokenizer, texts, **kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, feats)
        seconds.write_text(json.dumps({"seconds": time.perf_counter() - start}))
        tmp.replace(path)
    feats = np.load(path)
    if not timed:
        return feats
    return feats, json.loads(seconds.read_text())["seconds"] if seconds.exists() else float("nan")


def split_features(encoder, tokenizer, ds, splits=("train", "test"), max_length: int = 128,
                   cache_as: str | None = None) -> dict:
    """{split: (N, C) mean-pooled features of ds[split]["text"]}. With cache_as (the model's course
    name) they are cached on disk: only for an encoder that still holds the published weights."""
    if cache_as:
        return {s: cached_embed(cache_as, encoder, tokenizer, ds[s]["text"], max_length=max_length,
                                progress=False) for s in splits}
    return {s: embed(encoder, tokenizer, ds[s]["text"], max_length=max_length, progress=False)
            for s in splits}


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


def probe_params(clf) -> int:
    """Trainable parameters of a fitted probe: the logistic regression's weights and biases as sklearn
    stores them. With two classes it keeps one weight per feature and one bias (384-d features: 385),
    since p(positive) = sigmoid(w·x + b) says all; with K > 2 classes, one row and one bias per class.
    (A torch `Linear(384, 2)` head, whose softmax needs both rows, trains 770.)"""
    lr = clf[-1] if hasattr(clf, "steps") else clf  # the pipeline's last step; the scaler learns nothing
    return int(lr.coef_.size + lr.intercept_.size)


def probe_accuracy(X_train, y_train, X_test, y_test, **kwargs) -> float:
    return float(probe(X_train, y_train, **kwargs).score(X_test, y_test))


def layer_probe(train_layers, y_train, test_layers, y_test, C: float | None = None) -> list[float]:
    """Probe accuracy of every layer's features: index 0 = token embeddings, L = last block.

    One C for every layer: `C`, or (None) the one cross-validation chooses on the last layer (cv_C).
    """
    C = cv_C(train_layers[-1], y_train) if C is None else C
    return [probe_accuracy(a, y_train, b, y_test, C=C) for a, b in zip(train_layers, test_layers)]


def cv_C(X, y) -> float:
    """The C that probe's 3-fold cross-validation chooses on features X."""
    return float(np.ravel(probe(X, y)[-1].C_)[0])


def majority_accuracy(y_train, y_test) -> float:
    """The floor every method must beat: always answer the most common training label."""
    return float(np.mean(np.asarray(y_test) == np.bincount(y_train).argmax()))


@dataclass
class HeadResult:
    head: object  # the trained torch head: standardised (B, C) features -> (B, K) logits
    accuracy: float  # on the evaluation features, with the returned (best) weights
    trainable_params: int  # weights and biases of the head
    train_time_s: float  # the training loop only (the features were already cached)
    losses: list  # mean training loss of every epoch
    val_curve: list  # evaluation accuracy after every epoch
    best_epoch: int  # the epoch whose weights the head holds (1 = after the first)
    stopped_early: bool  # patience ran out before `epochs`
    mean: object = None  # (C,) the training features' mean...
    std: object = None  # (C,) ...and std: predict() standardises with them

    def predict(self, X) -> np.ndarray:
        """Predicted classes of raw (unstandardised) features (N, C) -> (N,)."""
        with torch.no_grad():
            return self.head((torch.as_tensor(X, dtype=torch.float32) - self.mean) / self.std).argmax(-1).cpu().numpy()


def train_head(X_train, y_train, X_eval, y_eval, hidden: int = 0, epochs: int = 50,
               lr: float = 1e-3, batch_size: int = 32, weight_decay: float = 0.01,
               seed: int = 0, patience: int | None = None) -> HeadResult:
    """A small torch head on cached features: linear (hidden=0) or one hidden ReLU layer.

    A plain PyTorch loop on the CPU: there is no backbone here, so an epoch is one pass over
    (N, C) vectors and a hundred of them take seconds. Features are standardised with the
    training mean and std, as the logistic-regression probe does. After every epoch the head is
    scored on the evaluation features; it ends with the weights of its best epoch, and with
    `patience` stops after that many epochs without a better one.
    """
    torch.manual_seed(seed)
    X, y = torch.as_tensor(X_train, dtype=torch.float32), torch.as_tensor(np.asarray(y_train))
    mean, std = X.mean(0), X.std(0) + 1e-6  # (C,)
    X = (X - mean) / std
    X_eval, y_eval = (torch.as_tensor(X_eval, dtype=torch.float32) - mean) / std, np.asarray(y_eval)
    dim, k = X.shape[1], int(y.max()) + 1
    head = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, k)) \
        if hidden else nn.Linear(dim, k)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # matrices this small run faster without threads to synchronise
    try:
        run = _head_epochs(head, opt, X, y, X_eval, y_eval, epochs, batch_size, patience)
    finally:
        torch.set_num_threads(threads)
    head.load_state_dict(run["best_weights"])
    head.eval()
    best = int(np.argmax(run["curve"]))  # the first of equal accuracies
    return HeadResult(head, run["curve"][best], sum(p.numel() for p in head.parameters()), run["seconds"],
                      run["losses"], run["curve"], best + 1, len(run["curve"]) < epochs, mean, std)


def _head_epochs(head, opt, X, y, X_eval, y_eval, epochs: int, batch_size: int, patience) -> dict:
    """Mini-batch epochs, each scored on the evaluation features; keeps the best epoch's weights."""
    start, losses, curve, best_weights = time.perf_counter(), [], [], None
    for _ in range(epochs):
        head.train()
        total = 0.0
        for idx in torch.randperm(len(X)).split(batch_size):
            loss = F.cross_entropy(head(X[idx]), y[idx])  # logits (b, K), labels (b,)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
        head.eval()
        with torch.no_grad():
            curve.append(float(np.mean(head(X_eval).argmax(-1).cpu().numpy() == y_eval)))
        if curve[-1] > max(curve[:-1], default=-1.0):
            best_weights = copy.deepcopy(head.state_dict())
        if patience and len(curve) - 1 - int(np.argmax(curve)) >= patience:
            break
    return {"losses": losses, "curve": curve, "best_weights": best_weights, "seconds": time.perf_counter() - start}
