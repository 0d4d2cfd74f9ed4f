"""Domain adaptation: measure a domain shift, continue pretraining on the domain's own unlabeled
text, then train the task (Gururangan et al., 2020, "Don't Stop Pretraining").

    shift_table({"movie model": m}, {"movies": rt_test, "drugs": drug_test}, tok)
    continue_pretraining(smollm, tok, business_texts, DAPTConfig(steps=12))   # causal LM
    tapt = adapt_encoder()                                    # MiniLM, masked LM on the task's own texts
    run_target(tapt["model"]); target_table(tapt["model"])    # the task under the protocol, both encoders
"""
import time
from dataclasses import dataclass

from .config import RESULTS, get_profile



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


LENGTH_FACTOR = 3  # drug reviews read at 3x the profile's snippet length: 192 tokens in cpu keeps ~96% whole
TARGET_METHODS = ("majority", "full")  # the floor, and every weight of the encoder trained


def target_data():
    """The target task: drug reviews, negative vs positive, train and test splits (the protocol
    holds its validation set out of train; the dataset's own validation split is left for TAPT's
    held-out loss)."""
    import datasets
    from .loaders import load_dataset
    ds = binary(load_dataset("drug_reviews"))
    return datasets.DatasetDict(train=ds["train"], test=ds["test"])


def target_profile(profile=None):
    """The active profile reading LENGTH_FACTOR x its max_length tokens per review (the snippet
    length would cut most reviews short)."""
    from dataclasses import replace
    profile = profile or get_profile()
    return replace(profile, max_length=LENGTH_FACTOR * profile.max_length)


@dataclass
class TAPTConfig:
    head_steps: int = 60  # steps fitting the new masked-LM head on general news, the encoder frozen
    steps: int = 90  # task-adaptive pretraining: every weight, on the task's own training texts
    lr: float = 1e-4  # peak rate of the adaptation (the head's fit: 10x)
    batch_size: int = 16  # texts per step
    seed: int = 0  # which tokens are masked, the order


def masked_lm_loss(model, tokenizer, texts, max_length: int, seed: int = 0, batch_size: int = 32) -> float:
    """Cross-entropy per masked token (15% masked, BERT's rule), the same masks at every call."""
    import torch
    from transformers import DataCollatorForLanguageModeling
    from .device import autocast, model_device
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


def adapt_encoder(config: TAPTConfig = TAPTConfig(), profile=None) -> dict:
    """MiniLM adapted to drug reviews by masked-LM training on the task's own training texts
    (TAPT, Gururangan et al.): first its new MLM head is fitted on general news with the encoder
    frozen, so that the held-out loss before adaptation measures the encoder, not a random head;
    then every weight trains on the reviews. Saved under data/cache/adapted/ (read back by a later
    call with the same settings); returns {"model": its folder from the checkout, the held-out
    masked-LM losses before and after on drug reviews and on news, steps, tokens, seconds}."""
    import hashlib
    import json
    from dataclasses import asdict
    from .config import CACHE, ROOT
    from .data import protocol_splits
    from .loaders import load_model, load_tokenizer
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
    encoder.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = {"model": folder.relative_to(ROOT).as_posix(), "before": before, "after": after,
              "steps": run.steps, "texts": len(texts), "tokens": int(run.tokens_per_s * run.train_time_s),
              "seconds": time.perf_counter() - start, "held_out_texts": len(held_out["drug reviews"])}
    (folder / "tapt.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_target(adapted: str, seeds=None, out_dir=None) -> list[dict]:
    """The target task for the published and the adapted encoder under the course's protocol
    (experiments.run_grid: the rate chosen on validation at seed 0, early stopping, best weights,
    the same validation and test reviews for every run), at target_profile's length."""
    from .experiments import run_grid
    records = []
    for model in ("minilm-l6", adapted):
        methods = TARGET_METHODS if model == "minilm-l6" else TARGET_METHODS[1:]
        records += run_grid(methods, seeds, out_dir, profile=target_profile(), data=target_data(), model=model)
    return records


def target_runs(adapted: str, folder=None) -> dict:
    """{"majority class", "published MiniLM", "adapted MiniLM (TAPT)": their result files' rows}."""
    from .data import data_name
    from .results import load_results
    frame = load_results(folder or RESULTS / get_profile().name)
    frame = frame[frame.data == data_name(target_data())] if not frame.empty else frame
    if frame.empty:
        raise FileNotFoundError("no target-task results yet: run domain.run_target first")
    full = frame[frame.method == "full"]
    return {"majority class": frame[frame.method == "majority"],
            "published MiniLM": full[full.model == "minilm-l6"], "adapted MiniLM (TAPT)": full[full.model == adapted]}


def target_table(adapted: str, folder=None):
    """Accuracy and macro F1 (mean ± std over seeds, %) of the majority class and each encoder,
    the rate validation chose, and the adapted encoder's paired difference in accuracy from the
    published one on the same test reviews (results.paired_difference)."""
    import pandas as pd
    from .results import mean_std, paired_difference
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
    import pandas as pd
    labels = target_test_labels()
    return pd.DataFrame({name: {"accuracy": 100 * r.metric_accuracy.mean(),
                                "macro_f1": 100 * sum(binary_macro_f1(c, labels) for c in r.test_correct) / len(r)}
                         for name, r in target_runs(adapted, folder).items()}).T


def target_test_labels() -> list:
    """The labels of the protocol's test reviews (the profile's eval_size of them), in order."""
    from .data import protocol_splits
    return protocol_splits(target_data(), target_profile())["test"]["label"]


def binary_macro_f1(correct, labels) -> float:
    """Macro F1 of a two-class run from its per-item correctness: a wrong answer is the other class."""
    import numpy as np
    labels = np.asarray(labels)
    preds = np.where(np.asarray(correct) == 1, labels, 1 - labels)
    return macro_f1(preds, labels)["macro_f1"]
