"""Domain adaptation: measure a domain shift, continue pretraining on the domain's own unlabeled
text, then train the task (Gururangan et al., 2020, "Don't Stop Pretraining").

    continue_pretraining(smollm, tok, business_texts, DAPTConfig(steps=12))   # causal LM
    probe_shift("rotten_tomatoes", "drug_reviews", profile)   # frozen-feature probes across the shift
Lesson 08's experiments that use these (TAPT, the target task) are in lessons/domain_adaptation.
"""
from dataclasses import dataclass

import pandas as pd
import torch

from ..engine.data import take, tokenize
from ..engine.device import autocast, model_device
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.train import fit, TrainConfig
from .features import probe, split_features
from .lm import pack_blocks


def binary(ds):
    """drug_reviews without its neutral class: negative = 0, positive = 1 (a DatasetDict)."""
    import datasets
    feature = datasets.ClassLabel(names=["negative", "positive"])
    ds = ds.filter(lambda row: row["label"] != 1)  # 1 = neutral
    ds = ds.map(lambda row: {"label": row["label"] // 2})  # 0 -> 0, 2 -> 1
    return ds.cast_column("label", feature)


def texts_of(name: str, split: str = "train", label: int | None = None) -> list[str]:
    """The texts of one split of a course dataset, optionally only those with one label."""
    part = load_dataset(name)[split]
    if label is not None:
        part = part.filter(lambda row: row["label"] == label)
    return list(part["text"])


@dataclass
class DAPTConfig:
    steps: int = 12  # optimizer steps of continued pretraining (SmolLM2 on 2 CPU cores: ~5 s each)
    lr: float = 1e-4  # peak learning rate: below pretraining's, above task fine-tuning's
    batch_size: int = 4  # blocks (causal) or texts (masked) per step
    block_size: int = 128  # tokens per block (causal) or per text (masked): a profile's lm_block_size
    mlm_probability: float = 0.15  # masked LM only: share of tokens masked (BERT's 15%)
    seed: int = 0  # which blocks, which masks, dropout


def continue_pretraining(model, tokenizer, texts, config: DAPTConfig, masked: bool = False):
    """Train on unlabeled `texts` with the model's own pretraining objective; returns a TrainResult.

    Causal LM: texts are packed into blocks, each token predicts the next. Masked LM: each text is
    cut to block_size tokens and 15% of its tokens are hidden for the model to restore.
    """
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling
    train_config = TrainConfig(lr=config.lr, max_steps=config.steps, batch_size=config.batch_size,
                               seed=config.seed, group_by_length=False, log_every=1, progress=False)
    if masked:
        texts = Dataset.from_dict({"text": list(texts)})
        data = tokenize(texts, tokenizer, config.block_size, quiet=True)  # cut to block_size by design
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
    else:
        data, collate = pack_blocks(texts, tokenizer, config.block_size, config.steps * config.batch_size), None
    return fit(model, data, None, train_config, collate_fn=collate)


def probe_shift(source: str, target: str, profile, model: str = "minilm-l6", seed: int = 0):
    """Frozen-feature probes trained on each domain (rows), tested on both (columns), accuracy %."""
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


def masked_lm_loss(model, tokenizer, texts, max_length: int, seed: int = 0, batch_size: int = 32) -> float:
    """Cross-entropy per masked token (15% masked, BERT's rule), the same masks at every call."""
    from transformers import DataCollatorForLanguageModeling
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the collator masks with torch's global generator
    batches = [collate([{"input_ids": x} for x in ids[i:i + batch_size]]) for i in range(0, len(ids), batch_size)]
    torch.random.set_rng_state(state)
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad(), autocast(model):
        for batch in batches:  # input_ids, labels: (B, T); labels -100 where not masked
            batch = {k: v.to(model_device(model)) for k, v in batch.items()}
            n = int((batch["labels"] != -100).sum())
            total, count = total + model(**batch).loss.float().item() * n, count + n
    return total / count
