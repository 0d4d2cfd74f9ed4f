"""Lesson 08's experiments: a drug-review classifier from the published encoder and from one
adapted to drug reviews by task-adaptive pretraining (TAPT), under the course's protocol.

    run_shift()                     # lesson 07's movie classifier on movie and on drug reviews
    run_dapt()                      # SmolLM2 continued on business news: held-out perplexities
    adapt_encoder()                 # TAPT: masked-LM on the drug reviews' training texts (cached)
    head_only_control()             # the same steps with the encoder frozen: what the head alone buys
    run_target(adapted)             # the target task on both encoders, via the method grid
    target_table(adapted)           # read back from the result files, with paired differences
    run_lesson()                    # all the runs above, in order (what `make results` runs)
Each writes a result file (the adapted encoder is a cache) read back while what it was made from stands.
"""
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.config import CACHE, get_profile, RESULTS, ROOT
from ..engine.data import data_name, protocol_splits, tokenize
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.params import count_params
from ..engine.records import load_results, mean_std, result_name, write_result
from ..methods.adapt import DAPTConfig, binary, continue_pretraining, macro_f1, masked_lm_loss, texts_of
from ..methods.lm import block_losses, pack_blocks
from ..experiments.teacher import teacher_key, teacher_run
from ..experiments.method_grid import predictions, run_grid, scored
from ..experiments.protocol import paired_bootstrap, paired_difference, stored, VERSION


LENGTH_FACTOR = 3  # drug reviews read at 3x the profile's snippet length: 192 tokens in cpu keeps ~96% whole
TARGET_METHODS = ("majority", "full")  # the floor, and every weight of the encoder trained
SHIFT, DAPT, HEAD_ONLY = "movie-classifier", "dapt", "tapt-head-only"  # methods of the other result files
HELD_OUT_BLOCKS = 16  # held-out blocks per domain (the profile's lm_block_size tokens) for run_dapt


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


def _result_path(method: str, model: str, data: str, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(method, model, data, profile.name, 0)


def run_shift(profile=None, out_dir=None) -> dict:
    """The shift, measured: lesson 07's teacher (MiniLM fully fine-tuned on movie reviews, seed 0)
    scored on the target task's drug test reviews at the profile's length and at target_profile's,
    beside its own movie test reviews. One result file with per-review correctness, so the shift can
    be paired with the drug-review classifiers on the same reviews (claim 10)."""
    profile = profile or get_profile()
    lengths = {"short": profile.max_length, "long": target_profile(profile).max_length}
    asked = {"teacher": teacher_key(profile), "lengths": lengths, "protocol": VERSION}
    path = _result_path(SHIFT, "minilm-l6", data_name(target_data()), profile, out_dir)
    if record := stored(path, asked):
        return record
    teacher, tokenizer, start = teacher_run(profile), load_tokenizer("minilm-l6"), time.perf_counter()
    drugs = protocol_splits(target_data(), target_profile(profile))["test"]
    correct = {name: scored(predictions(teacher.model, tokenize(drugs, tokenizer, n, quiet=True), tokenizer),
                            drugs["label"]) for name, n in lengths.items()}  # both lengths on purpose: section 3 counts the cut
    metrics = {"accuracy": correct["long"]["metrics"]["accuracy"],
               "accuracy_short": correct["short"]["metrics"]["accuracy"],
               "accuracy_movies": teacher.record["metrics"]["accuracy"]}
    write_result(path.parent, method=SHIFT, model="minilm-l6", data=data_name(target_data()), profile=profile.name,
                 seed=0, metrics=metrics, trainable_params=0, total_params=count_params(teacher.model)[1],
                 wall_time_s=time.perf_counter() - start, peak_memory_mb=None,
                 test_correct=correct["long"]["test_correct"], test_correct_short=correct["short"]["test_correct"],
                 movie_test_correct=teacher.record["test_correct"], **asked)
    return json.loads(path.read_text())


def dapt_config(profile) -> DAPTConfig:
    """Lesson 08's continued pretraining of SmolLM2: an eighth of the profile's LM budget in blocks of
    business news (at most 48), 2 per step, at 3e-4: more, smaller steps adapt more per token in a run this short."""
    blocks = min(48, (profile.lm_train_blocks or 480) // 8)
    return DAPTConfig(steps=blocks // 2, lr=3e-4, batch_size=2, block_size=profile.lm_block_size)


def run_dapt(profile=None, out_dir=None) -> dict:
    """SmolLM2 continued on the business section of BBC News (topic 0, train split) by next-token
    prediction, every weight trained; the loss of each held-out block (business test articles, and
    general news for what it costs elsewhere) before and after, in one result file."""
    profile = profile or get_profile()
    config = dapt_config(profile)
    asked = {"dapt": asdict(config), "block_size": profile.lm_block_size, "held_out_blocks": HELD_OUT_BLOCKS,
             "protocol": VERSION}
    path = _result_path(DAPT, "smollm2-135m", "bbc_business", profile, out_dir)
    if record := stored(path, asked):
        return record
    model, tokenizer = load_model("smollm2-135m"), load_tokenizer("smollm2-135m")
    held_out = {domain: pack_blocks(texts_of(name, split, label), tokenizer, profile.lm_block_size, HELD_OUT_BLOCKS)
                for domain, (name, split, label) in {"business": ("bbc_news", "test", 0),
                                                     "news": ("news_articles", "validation", None)}.items()}
    before = {domain: block_losses(model, blocks).tolist() for domain, blocks in held_out.items()}
    run = continue_pretraining(model, tokenizer, texts_of("bbc_news", "train", label=0), config)
    after = {domain: block_losses(model, blocks).tolist() for domain, blocks in held_out.items()}
    losses = run.frame().train_loss.dropna()
    metrics = {f"{domain}_ppl_{when}": math.exp(np.mean(side[domain]))
               for domain in held_out for when, side in (("before", before), ("after", after))}
    write_result(path.parent, method=DAPT, model="smollm2-135m", data="bbc_business", profile=profile.name, seed=0,
                 metrics=metrics, trainable_params=count_params(model)[0], total_params=count_params(model)[1],
                 wall_time_s=run.train_time_s, peak_memory_mb=None, before=before, after=after, steps=run.steps,
                 train_loss_first=float(losses.iloc[0]), train_loss_last=float(losses.iloc[-1]), **asked)
    return json.loads(path.read_text())


def perplexity_change(record: dict, domain: str) -> tuple:
    """A run_dapt record's perplexity change on `domain` in %, with its 95% interval: the paired
    bootstrap of the loss difference over the held-out blocks, as exp(Δ loss) − 1."""
    return tuple(100 * (math.exp(v) - 1) for v in paired_bootstrap(record["after"][domain], record["before"][domain]))


@dataclass
class TAPTConfig:
    head_steps: int = 60  # steps fitting the new masked-LM head on general news, the encoder frozen
    steps: int = 90  # task-adaptive pretraining: every weight, on the task's own training texts
    lr: float = 1e-4  # peak rate of the adaptation (the head's fit: 10x)
    batch_size: int = 16  # texts per step
    seed: int = 0  # which tokens are masked, the order


def _tapt_texts(profile) -> tuple:
    """(the task's training reviews, {"drug reviews", "news": held-out texts}) at target_profile's length.
    The held-out reviews are the dataset's own validation split (all three classes), which no split of
    the task uses; validation and test reviews of the task are excluded from the training texts."""
    ds = target_data()
    texts = protocol_splits(ds, profile, train_size=len(ds["train"]))["train"]["text"]
    reviews = texts_of("drug_reviews", "validation")
    return texts, {"drug reviews": reviews, "news": texts_of("news_articles", "validation")[:len(reviews)]}


def _fitted_head(config: TAPTConfig, length: int) -> tuple:
    """(MiniLM with a new masked-LM head fitted on general news, the encoder frozen; its tokenizer).
    all-MiniLM-L6-v2 ships no MLM head: a loss through a random head would say nothing about the encoder."""
    tokenizer, mlm = load_tokenizer("minilm-l6"), load_model("minilm-l6", task="masked-lm")
    mlm.bert.requires_grad_(False)
    news = texts_of("news_articles", "train")[:config.head_steps * config.batch_size]
    continue_pretraining(mlm, tokenizer, news, DAPTConfig(config.head_steps, 10 * config.lr, config.batch_size,
                                                          length, seed=config.seed), masked=True)
    return mlm, tokenizer


def _adapt(config: TAPTConfig, profile, encoder_trains: bool) -> tuple:
    """Fit the head, measure, train `config.steps` on the task's reviews (every weight, or the head alone),
    measure again: (the MLM model, its tokenizer, the record's numbers)."""
    texts, held_out = _tapt_texts(profile)
    start, length = time.perf_counter(), profile.max_length
    mlm, tokenizer = _fitted_head(config, length)
    before = {k: masked_lm_loss(mlm, tokenizer, v, length) for k, v in held_out.items()}
    mlm.bert.requires_grad_(encoder_trains)
    run = continue_pretraining(mlm, tokenizer, texts, DAPTConfig(config.steps, config.lr, config.batch_size,
                                                                 length, seed=config.seed), masked=True)
    after = {k: masked_lm_loss(mlm, tokenizer, v, length) for k, v in held_out.items()}
    return mlm, tokenizer, {"before": before, "after": after, "steps": run.steps, "texts": len(texts),
                            "tokens": int(run.tokens_per_s * run.train_time_s), "seconds": time.perf_counter() - start,
                            "held_out_texts": len(held_out["drug reviews"])}


def adapt_encoder(config: TAPTConfig = TAPTConfig(), profile=None) -> dict:
    """MiniLM adapted to drug reviews by masked-LM training on the task's own training texts
    (TAPT, Gururangan et al.): first its new MLM head is fitted on general news with the encoder
    frozen (_fitted_head), so that the held-out loss before adaptation measures the encoder, not a
    random head; then every weight trains on the reviews. Saved under data/cache/adapted/ (read back
    by a later call with the same settings); returns {"model": its folder from the checkout, the held-out
    masked-LM losses before and after on drug reviews and on news, steps, tokens, seconds}."""
    profile = target_profile(profile)
    folder = adapted_folder(config, profile)
    if (folder / "tapt.json").exists():
        return json.loads((folder / "tapt.json").read_text())
    mlm, tokenizer, numbers = _adapt(config, profile, encoder_trains=True)
    encoder = load_model("minilm-l6", task="base")  # the published encoder, pooler included (unused)
    encoder.load_state_dict(mlm.bert.state_dict(), strict=False)  # every adapted weight
    record = {"model": folder.relative_to(ROOT).as_posix()} | numbers
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}")  # renamed whole: a concurrent build never sees half of it
    encoder.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "tapt.json").write_text(json.dumps(record, indent=1) + "\n")
    try:
        tmp.rename(folder)
    except OSError:  # another process finished the same build first: keep its copy
        shutil.rmtree(tmp)
    return record


def adapted_folder(config: TAPTConfig, profile) -> Path:
    """Where adapt_encoder keeps the encoder adapted with `config` at target_profile(profile)'s length."""
    key = hashlib.sha256(json.dumps([asdict(config), profile.name, profile.max_length]).encode()).hexdigest()[:8]
    return CACHE / "adapted" / f"minilm-l6-tapt-{profile.name}-{key}"


def head_only_control(config: TAPTConfig = TAPTConfig(), profile=None, out_dir=None) -> dict:
    """adapt_encoder's run with the encoder frozen throughout: the head keeps training on the reviews
    for the same steps. TAPT's fall in held-out loss mixes the encoder's adaptation with the head's
    further fit; this run's fall is the head's alone. One result file, read back while its settings stand."""
    profile = target_profile(profile)
    asked = {"tapt": asdict(config), "max_length": profile.max_length, "protocol": VERSION}
    path = _result_path(HEAD_ONLY, "minilm-l6", data_name(target_data()), profile, out_dir)
    if record := stored(path, asked):
        return record
    mlm, _, numbers = _adapt(config, profile, encoder_trains=False)
    write_result(path.parent, method=HEAD_ONLY, model="minilm-l6", data=data_name(target_data()), profile=profile.name,
                 seed=config.seed, metrics={"drug_loss_after": numbers["after"]["drug reviews"]},
                 trainable_params=count_params(mlm)[0], total_params=count_params(mlm)[1],
                 wall_time_s=numbers["seconds"], peak_memory_mb=None, **numbers, **asked)
    return json.loads(path.read_text())


def run_target(adapted: str, seeds=None, out_dir=None) -> list[dict]:
    """The target task for the published and the adapted encoder under the course's protocol
    (method_grid.run_grid: the rate chosen on validation at seed 0, early stopping, best weights,
    the same validation and test reviews for every run), at target_profile's length."""
    records = []
    for model in ("minilm-l6", adapted):
        methods = TARGET_METHODS if model == "minilm-l6" else TARGET_METHODS[1:]
        records += run_grid(methods, seeds, out_dir, profile=target_profile(), data=target_data(), model=model)
    return records


def run_lesson() -> None:
    """The lesson's experiments in order (what `make results` runs), each read back from its result
    file (or the adapted encoder from its cache) while what it was made from stands."""
    run_shift()
    run_dapt()
    head_only_control()
    run_target(adapt_encoder()["model"])


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
