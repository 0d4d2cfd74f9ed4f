"""Lesson 08's experiments: a drug-review classifier from the published encoder and from one
adapted to drug reviews by task-adaptive pretraining (TAPT), under the course's protocol.

    adapt_encoder()                 # TAPT: masked-LM on the drug reviews' training texts (cached)
    run_target(adapted)             # the target task on both encoders, via the method grid
    target_table(adapted)           # read back from the result files, with paired differences
"""
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from ..engine.config import CACHE, get_profile, RESULTS, ROOT
from ..engine.data import data_name, protocol_splits
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.records import load_results, mean_std
from ..methods.adapt import DAPTConfig, binary, continue_pretraining, macro_f1, masked_lm_loss, texts_of
from .method_grid import run_grid
from .protocol import paired_difference


LENGTH_FACTOR = 3  # drug reviews read at 3x the profile's snippet length: 192 tokens in cpu keeps ~96% whole
TARGET_METHODS = ("majority", "full")  # the floor, and every weight of the encoder trained


def target_data():
    """The target task: drug reviews, negative vs positive, train and test splits (the protocol
    holds its validation set out of train; the dataset's own validation split is left for TAPT's
    held-out loss)."""
    import datasets
    ds = binary(load_dataset("drug_reviews"))
    return datasets.DatasetDict(train=ds["train"], test=ds["test"])


def target_profile(profile=None):
    """The active profile reading LENGTH_FACTOR x its max_length tokens per review (the snippet
    length would cut most reviews short)."""
    profile = profile or get_profile()
    return replace(profile, max_length=LENGTH_FACTOR * profile.max_length)


@dataclass
class TAPTConfig:
    head_steps: int = 60  # steps fitting the new masked-LM head on general news, the encoder frozen
    steps: int = 90  # task-adaptive pretraining: every weight, on the task's own training texts
    lr: float = 1e-4  # peak rate of the adaptation (the head's fit: 10x)
    batch_size: int = 16  # texts per step
    seed: int = 0  # which tokens are masked, the order




def adapt_encoder(config: TAPTConfig = TAPTConfig(), profile=None) -> dict:
    """MiniLM adapted to drug reviews by masked-LM training on the task's own training texts
    (TAPT, Gururangan et al.): first its new MLM head is fitted on general news with the encoder
    frozen, so that the held-out loss before adaptation measures the encoder, not a random head;
    then every weight trains on the reviews. Saved under data/cache/adapted/ (read back by a later
    call with the same settings); returns {"model": its folder from the checkout, the held-out
    masked-LM losses before and after on drug reviews and on news, steps, tokens, seconds}."""
    profile = target_profile(profile)
    length = profile.max_length
    key = hashlib.sha256(json.dumps([asdict(config), profile.name, length]).encode()).hexdigest()[:8]
    folder = CACHE / "adapted" / f"minilm-l6-tapt-{profile.name}-{key}"
    if (folder / "tapt.json").exists():
        return json.loads((folder / "tapt.json").read_text())
    ds = target_data()
    texts = protocol_splits(ds, profile, train_size=len(ds["train"]))["train"]["text"]  # validation, test excluded
    reviews = texts_of("drug_reviews", "validation")  # all three classes; no split of the task uses them
    held_out = {"drug reviews": reviews, "news": texts_of("news_articles", "validation")[:len(reviews)]}
    tokenizer, mlm = load_tokenizer("minilm-l6"), load_model("minilm-l6", task="masked-lm")
    start = time.perf_counter()
    mlm.bert.requires_grad_(False)
    news = texts_of("news_articles", "train")[:config.head_steps * config.batch_size]
    continue_pretraining(mlm, tokenizer, news, DAPTConfig(config.head_steps, 10 * config.lr, config.batch_size,
                                                          length, seed=config.seed), masked=True)
    before = {k: masked_lm_loss(mlm, tokenizer, v, length) for k, v in held_out.items()}
    mlm.requires_grad_(True)
    run = continue_pretraining(mlm, tokenizer, texts, DAPTConfig(config.steps, config.lr, config.batch_size,
                                                                 length, seed=config.seed), masked=True)
    after = {k: masked_lm_loss(mlm, tokenizer, v, length) for k, v in held_out.items()}
    encoder = load_model("minilm-l6", task="base")  # the published encoder, pooler included (unused)
    encoder.load_state_dict(mlm.bert.state_dict(), strict=False)  # every adapted weight
    record = {"model": folder.relative_to(ROOT).as_posix(), "before": before, "after": after,
              "steps": run.steps, "texts": len(texts), "tokens": int(run.tokens_per_s * run.train_time_s),
              "seconds": time.perf_counter() - start, "held_out_texts": len(held_out["drug reviews"])}
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}")  # renamed whole: a concurrent build never sees half of it
    encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "tapt.json").write_text(json.dumps(record, indent=1) + "\n")
    try:
        tmp.rename(folder)
    except OSError:  # another process finished the same build first: keep its copy
        shutil.rmtree(tmp)
    return record


def run_target(adapted: str, seeds=None, out_dir=None) -> list[dict]:
    """The target task for the published and the adapted encoder under the course's protocol
    (method_grid.run_grid: the rate chosen on validation at seed 0, early stopping, best weights,
    the same validation and test reviews for every run), at target_profile's length."""
    records = []
    for model in ("minilm-l6", adapted):
        methods = TARGET_METHODS if model == "minilm-l6" else TARGET_METHODS[1:]
        records += run_grid(methods, seeds, out_dir, profile=target_profile(), data=target_data(), model=model)
    return records


def target_runs(adapted: str, folder=None) -> dict:
    """{"majority class", "published MiniLM", "adapted MiniLM (TAPT)": their result files' rows}."""
    frame = load_results(folder or RESULTS / get_profile().name)
    frame = frame[frame.data == data_name(target_data())] if not frame.empty else frame
    if frame.empty:
        raise FileNotFoundError("no target-task results yet: run domain_adaptation.run_target first")
    full = frame[frame.method == "full"]
    return {"majority class": frame[frame.method == "majority"],
            "published MiniLM": full[full.model == "minilm-l6"], "adapted MiniLM (TAPT)": full[full.model == adapted]}


def target_table(adapted: str, folder=None):
    """Accuracy and macro F1 (mean ± std over seeds, %) of the majority class and each encoder,
    the rate validation chose, and the adapted encoder's paired difference in accuracy from the
    published one on the same test reviews (protocol.paired_difference)."""
    labels, runs = target_test_labels(), target_runs(adapted, folder)
    rows = {name: {"accuracy %": mean_std(100 * r.metric_accuracy, 1),
                   "macro F1 %": mean_std([100 * binary_macro_f1(c, labels) for c in r.test_correct], 1),
                   "lr": ", ".join(f"{v:g}" for v in sorted(r.lr.dropna().unique())) or "—",
                   "best epoch": f"{r.best_epoch.mean():.1f}" if r.best_epoch.notna().any() else "—",
                   "seeds": len(r)} for name, r in runs.items()}
    table = pd.DataFrame(rows).T
    table["Δ accuracy vs published (95% interval)"] = [
        "", "—", paired_difference(runs["adapted MiniLM (TAPT)"], runs["published MiniLM"])]
    return table


def target_means(adapted: str, folder=None):
    """Mean accuracy and macro F1 (%) over seeds, one row per target_runs entry: for sentences."""
    labels = target_test_labels()
    return pd.DataFrame({name: {"accuracy": 100 * r.metric_accuracy.mean(),
                                "macro_f1": 100 * sum(binary_macro_f1(c, labels) for c in r.test_correct) / len(r)}
                         for name, r in target_runs(adapted, folder).items()}).T


def target_test_labels() -> list:
    """The labels of the protocol's test reviews (the profile's eval_size of them), in order."""
    return protocol_splits(target_data(), target_profile())["test"]["label"]


def binary_macro_f1(correct, labels) -> float:
    """Macro F1 of a two-class run from its per-item correctness: a wrong answer is the other class."""
    labels = np.asarray(labels)
    preds = np.where(np.asarray(correct) == 1, labels, 1 - labels)
    return macro_f1(preds, labels)["macro_f1"]
