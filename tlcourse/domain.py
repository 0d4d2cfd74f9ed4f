"""Domain adaptation: measure a domain shift, continue pretraining on the domain's own unlabeled
text, then train the task (Gururangan et al., 2020, "Don't Stop Pretraining").

    shift_table({"movie model": m}, {"movies": rt_test, "drugs": drug_test}, tok)
    continue_pretraining(smollm, tok, business_texts, DAPTConfig(steps=12))   # causal LM
    continue_pretraining(mlm, tok, drug_texts, DAPTConfig(), masked=True)      # masked LM
    run_target_grid({"pretrained": load_backbone, "dapt": lambda: adapted})    # the task, per seed
"""
import time
from dataclasses import dataclass

from .config import RESULTS, get_profile

TARGET = "drug_reviews_binary"  # the target task's name in result files


def binary(ds):
    """drug_reviews without its neutral class: negative = 0, positive = 1 (a DatasetDict)."""
    import datasets
    feature = datasets.ClassLabel(names=["negative", "positive"])
    ds = ds.filter(lambda row: row["label"] != 1)  # 1 = neutral
    ds = ds.map(lambda row: {"label": row["label"] // 2})  # 0 -> 0, 2 -> 1
    return ds.cast_column("label", feature)


def texts_of(name: str, split: str = "train", label: int | None = None) -> list[str]:
    """The texts of one split of a course dataset, optionally only those with one label."""
    from .loaders import load_dataset
    part = load_dataset(name)[split]
    if label is not None:
        part = part.filter(lambda row: row["label"] == label)
    return list(part["text"])


def clip_tokens(texts, tokenizer, n_tokens: int) -> list[str]:
    """The first texts, in order, holding about n_tokens tokens (the last one cut short)."""
    out, used = [], 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"][:n_tokens - used]
        out.append(tokenizer.decode(ids))
        used += len(ids)
        if used >= n_tokens:
            break
    return out


def domain_perplexity(model, tokenizer, texts: dict, max_length: int | None = None) -> dict:
    """{domain: perplexity} of a causal LM on each domain's texts (lm.perplexity).

    Windows barely overlap (stride = max_length - 1): half the compute of lm.perplexity's default,
    and the same windows before and after adaptation."""
    from .lm import perplexity
    max_length = max_length or get_profile().lm_block_size
    return {name: perplexity(model, tokenizer, t, max_length=max_length, stride=max_length - 1,
                             progress=False) for name, t in texts.items()}


@dataclass
class DAPTConfig:
    steps: int = 12  # optimizer steps of continued pretraining (SmolLM2 on 2 CPU cores: ~5 s each)
    lr: float = 1e-4  # peak learning rate: below pretraining's, above task fine-tuning's
    batch_size: int = 4  # blocks (causal) or texts (masked) per step
    block_size: int | None = None  # tokens per block or text; None: the profile's lm_block_size
    mlm_probability: float = 0.15  # masked LM only: share of tokens masked (BERT's 15%)
    seed: int = 0  # which blocks, which masks, dropout


def continue_pretraining(model, tokenizer, texts, config: DAPTConfig, masked: bool = False):
    """Train on unlabeled `texts` with the model's own pretraining objective; returns a TrainResult.

    Causal LM: texts are packed into blocks, each token predicts the next. Masked LM: each text is
    cut to block_size tokens and 15% of its tokens are hidden for the model to restore.
    """
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling
    from .data import tokenize
    from .lm import pack_blocks
    from .train import TrainConfig, fit
    block = config.block_size or get_profile().lm_block_size
    train_config = TrainConfig(lr=config.lr, max_steps=config.steps, batch_size=config.batch_size,
                               seed=config.seed, group_by_length=False, log_every=1, progress=False,
                               mixed_precision=get_profile().mixed_precision)
    if masked:
        data = tokenize(Dataset.from_dict({"text": list(texts)}), tokenizer, block)
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
    else:
        data, collate = pack_blocks(texts, tokenizer, block, config.steps * config.batch_size), None
    return fit(model, data, None, train_config, collate_fn=collate)


def accuracy_on(model, tokenizer, dataset, max_length: int | None = None) -> float:
    """Test accuracy of a classifier on a raw dataset split (text, label)."""
    from .data import tokenize
    from .train import evaluate
    enc = tokenize(dataset.select_columns(["text", "label"]), tokenizer,
                   max_length or get_profile().max_length)
    return evaluate(model, enc, tokenizer=tokenizer)["accuracy"]


def shift_table(models: dict, tests: dict, tokenizer, max_length: int | None = None):
    """Accuracy % of each model (rows) on each test set (columns): the shift, read across a row."""
    import pandas as pd
    return pd.DataFrame({test: {name: 100 * accuracy_on(m, tokenizer, data, max_length)
                                for name, m in models.items()}
                         for test, data in tests.items()}).round(1)


def probe_shift(source: str, target: str, model: str = "minilm-l6", profile=None, seed: int = 0):
    """Frozen-feature probes trained on each domain (rows), tested on both (columns), accuracy %."""
    import pandas as pd
    from .data import take
    from .features import probe, split_features
    from .loaders import load_dataset, load_model, load_tokenizer
    profile = profile or get_profile()
    encoder, tokenizer = load_model(model, task="base"), load_tokenizer(model)
    sets = {name: take(load_dataset(name), profile, seed=seed) for name in (source, target)}
    X = {name: split_features(encoder, tokenizer, ds, max_length=profile.max_length, cache_as=model)
         for name, ds in sets.items()}
    table = {}
    for train_on in sets:
        clf = probe(X[train_on]["train"], sets[train_on]["train"]["label"], seed=seed)
        table[f"trained on {train_on}"] = {f"tested on {name}": 100 * clf.score(X[name]["test"], ds["test"]["label"])
                                           for name, ds in sets.items()}
    return pd.DataFrame(table).T.round(1)


def macro_f1(preds, labels) -> dict:
    """compute_metrics for the loop: macro-averaged F1 (each class counts equally)."""
    from sklearn.metrics import f1_score
    return {"macro_f1": float(f1_score(labels, preds, average="macro"))}


def target_task(backbone, train, test, tokenizer, seed: int = 0, lr: float = 5e-5,
                head_lr: float = 1e-3, profile=None) -> dict:
    """Fine-tune MeanPoolClassifier(backbone) on the target task; the fields of a result JSON."""
    import torch
    from .freezing import count_params, two_rate_groups
    from .models import MeanPoolClassifier
    from .train import TrainConfig, evaluate, fit
    profile = profile or get_profile()
    start = time.perf_counter()
    torch.manual_seed(seed)  # the new head's initial weights
    backbone.pooler = None  # mean pooling replaces BERT's [CLS] pooler, as models.classifier does
    model = MeanPoolClassifier(backbone, num_labels=2)
    config = TrainConfig(lr=lr, epochs=profile.epochs, batch_size=profile.batch_size, seed=seed,
                         mixed_precision=profile.mixed_precision, progress=False)
    fit(model, train, None, config, param_groups=two_rate_groups(model, lr, head_lr), tokenizer=tokenizer)
    trainable, total = count_params(model)
    return {"metrics": evaluate(model, test, tokenizer=tokenizer, compute_metrics=macro_f1),
            "trainable_params": trainable, "total_params": total,
            "wall_time_s": time.perf_counter() - start}


def run_target_grid(backbones: dict, seeds=None, train_size: int = 200, out_dir=None,
                    skip_existing: bool = True) -> list[dict]:
    """The target task (drug reviews, binary) for every backbone x seed; one result JSON each.

    backbones: {name: function returning a fresh encoder}; the result's method is target-<name>.
    """
    import json
    from .data import take, tokenize
    from .device import seed_everything
    from .experiments import Experiment
    from .loaders import load_dataset, load_tokenizer
    from .memory import PeakTracker
    from .results import result_name, write_result
    profile = get_profile()
    out_dir = out_dir or RESULTS / profile.name
    tokenizer, records = load_tokenizer("minilm-l6"), []
    for name in backbones:
        for seed in seeds or profile.seeds:
            path = out_dir / result_name(f"target-{name}", "minilm-l6", TARGET, profile.name, seed)
            if skip_existing and path.exists():
                records.append(json.loads(path.read_text()))
                continue
            seed_everything(seed)
            sized = get_profile(train_size=min(train_size, profile.train_size or train_size))
            ds = take(binary(load_dataset("drug_reviews")), sized, seed=seed)
            enc = tokenize(ds, tokenizer, profile.max_length)
            with PeakTracker() as mem:
                record = target_task(backbones[name](), enc["train"], enc["test"], tokenizer, seed)
            write_result(out_dir, f"target-{name}", "minilm-l6", TARGET, profile.name, seed,
                         peak_memory_mb=mem.mb, train_size=len(enc["train"]), **record)
            records.append(json.loads(path.read_text()))
    return records


def target_table(folder=None):
    """Mean ± std over seeds of the target task's accuracy and macro F1, one row per backbone."""
    from .results import load_results
    frame = load_results(folder or RESULTS / get_profile().name)
    if frame.empty or TARGET not in set(frame.data):
        raise FileNotFoundError(f"no {TARGET} results yet: run the target-task grid first")
    rows = frame[frame.data == TARGET]
    stats = rows.groupby("method")[["metric_accuracy", "metric_macro_f1"]].agg(["mean", "std"]) * 100
    table = stats.xs("mean", axis=1, level=1).round(1)
    for col in ("metric_accuracy", "metric_macro_f1"):
        table[f"{col} ± std"] = stats[col]["std"].fillna(0).round(1)
    table["seeds"] = rows.groupby("method").seed.nunique()
    return table.rename(columns={"metric_accuracy": "accuracy %", "metric_macro_f1": "macro F1 %"})

