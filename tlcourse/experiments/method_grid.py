"""One experiment = one method, one model, one dataset, one seed -> one result JSON.

    run(Experiment("lora", seed=1))          # trains, evaluates on test, writes results/<profile>/
    run_grid(["probe", "head", "full"])      # every method x every seed of the profile
    run_grid(["probe", "lora"], data="my.csv", text_column="review", label_column="verdict")
The methods span the course: a frozen probe, partial fine-tuning, full fine-tuning, ULMFiT,
BitFit and LoRA. They share data, model, loop and evaluation, and differ only in what trains.
The data is a course dataset, a learner's file or a DatasetDict (data.load_splits); each result
file records the data's hash, and run_grid reruns a file whose data has changed since.
"""
import hashlib
import json
import math
import os
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import safetensors.torch as weights
from tqdm.auto import tqdm

from ..engine.config import CACHE, get_profile, RESULTS
from ..engine.data import course_data, data_hash, data_name, data_source, load_splits, protocol_splits, tokenize
from ..engine.device import pick_device, seed_everything
from ..engine.loaders import load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.models import classifier
from ..engine.params import count_params, saved_size_mb
from ..engine.records import result_name, write_json, write_result
from ..engine.train import evaluate, fit, TrainConfig
from ..methods.features import cached_embed, probe, probe_params, train_head
from ..methods.freezing import bitfit, discriminative_groups, freeze, two_rate_groups, unfreezing_stages
from ..methods.lora import add_lora, ALL_LINEAR
from .protocol import VERSION, Choice, grid_position, search, stored

METHODS = {  # name -> what it trains (for tables and the decision explorer)
    "majority": "nothing: always the most common training label",
    "probe": "logistic regression on frozen mean-pooled features",
    "head": "the new linear head only",
    "last1": "head + last transformer block",
    "last2": "head + last two transformer blocks",
    "bitfit": "head + every bias",
    "lora": "head + rank-r adapters on attention query/value",
    "lora-all": "head + rank-r adapters on every linear layer of every block",
    "full": "every weight",
    "ulmfit": "every weight: gradual unfreezing, discriminative LRs, slanted triangular schedule",
}


GRID = {  # method -> (candidates for Experiment.lr, chosen on validation; the value run() takes alone)
    "probe": ((1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), 1.0),  # the probe's C (inverse L2 strength), not a rate
    "head": ((3e-4, 1e-3, 3e-3, 1e-2), 1e-3),
    "last1": ((2e-5, 5e-5, 1e-4, 2e-4, 5e-4), 5e-5),  # fewer weights train: larger rates are tried
    "last2": ((2e-5, 5e-5, 1e-4, 2e-4, 5e-4), 5e-5),
    "bitfit": ((1e-3, 3e-3, 1e-2), 1e-3),
    "lora": ((1e-3, 3e-3, 1e-2), 1e-3),
    "lora-all": ((3e-4, 1e-3, 3e-3), 1e-3),
    "full": ((2e-5, 5e-5, 1e-4), 5e-5),
    "ulmfit": ((2e-5, 5e-5, 1e-4), 5e-5),
}


LORA_TARGETS = {"lora": None, "lora-all": ALL_LINEAR}  # method -> add_lora's target_modules (None: query/value)
HEAD_EPOCHS, HEAD_PATIENCE = 100, 10  # the head on cached features: an epoch costs milliseconds


@dataclass
class Experiment:
    method: str  # one of METHODS
    model: str = "minilm-l6"  # course model name or hub id
    data: object = "rotten_tomatoes"  # course dataset name, table file path, or DatasetDict
    text_column: str = "text"  # the file's or DatasetDict's text column (course data: "text")
    label_column: str = "label"  # the file's or DatasetDict's label column (course data: "label")
    seed: int = 0  # the training subset, data order, dropout and the head's initial weights
    train_size: int | None = None  # labeled examples; None: the profile's
    lr: float | None = None  # the method's rate (probe: C); None: run_grid chooses it on validation, run() takes GRID's default
    head_lr: float = 1e-3  # the new head's rate when pretrained weights train too (last-k, full, ULMFiT)
    decay: float = 2.6  # ULMFiT: each block learns this many times slower than the one above
    lora_r: int = 8  # LoRA rank
    epochs: int | None = None  # most passes over the training data; None: the profile's
    patience: int | None = None  # evaluations without a better validation accuracy before stopping; None: the profile's
    max_steps: int | None = None  # a step budget instead of epochs (learning curves); evaluated `evaluations` times
    evaluations: int | None = None  # with max_steps: validation evaluations spread evenly over the budget
    batch_size: int | None = None  # examples per forward pass per process; None: the profile's
    tag: str = ""  # appended to the method name in the result file (e.g. "n64")

    @property
    def name(self) -> str:
        """The method as result files name it: "lora", or "lora-r4" with a tag."""
        return f"{self.method}-{self.tag}" if self.tag else self.method

    @property
    def rate(self) -> float | None:
        """The rate this run uses: lr, or the method's default (None for the majority class)."""
        return self.lr if self.lr is not None or self.method not in GRID else GRID[self.method][1]

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if (self.lr is not None and self.lr <= 0) or self.head_lr <= 0:
            raise ValueError("learning rates must be positive")


class Prepared(NamedTuple):
    train: object  # tokenised training subset (the seed's)
    validation: object  # tokenised validation set: the same for every seed and method
    test: object  # tokenised test set: the same for every seed and method
    tokenizer: object
    num_labels: int
    raw: object  # the DatasetDict of texts and labels (train, validation, test)


def source(exp: Experiment):
    """The experiment's whole train and test splits, with text/label (data.load_splits)."""
    return load_splits(exp.data, exp.text_column, exp.label_column)


def prepare(exp: Experiment, profile, ds=None) -> Prepared:
    """Tokenised train, validation and test sets (data.protocol_splits) and the label count.

    ds: source(exp) when already loaded."""
    ds = protocol_splits(source(exp) if ds is None else ds, profile, exp.seed, exp.train_size)
    tokenizer = load_tokenizer(exp.model)
    # the course's data at the profile's length is the course's choice; a learner's file or DatasetDict gets the warning
    enc = tokenize(ds, tokenizer, profile.max_length, quiet=course_data(exp.data))
    return Prepared(enc["train"], enc["validation"], enc["test"], tokenizer,
                    ds["train"].features["label"].num_classes, ds)


def protocol(exp: Experiment, profile) -> dict:
    """The settings besides the Experiment's fields that decide a result: a file made under other
    settings is not reused (run_grid reruns it)."""
    return {"epochs": exp.epochs or profile.epochs, "patience": exp.patience or profile.patience,
            "batch_size": exp.batch_size or profile.batch_size, "max_length": profile.max_length,
            "train_size": exp.train_size or profile.train_size, "eval_size": profile.eval_size,
            "selection": "validation accuracy, best weights restored", "version": VERSION}


def _features(exp, profile, data: Prepared):
    """Frozen mean-pooled features of train, validation and test, cached on disk (validation and
    test are the same items for every seed, so they are embedded once), and what embedding the
    training and validation texts costs from scratch (the seconds it took when it was computed)."""
    model = load_model(exp.model, task="base").to(pick_device())
    X, seconds = {}, {}
    for s in ("train", "validation", "test"):
        X[s], seconds[s] = cached_embed(exp.model, model, data.tokenizer, data.raw[s]["text"], timed=True,
                                        max_length=profile.max_length, progress=False)
    total = sum(p.numel() for p in model.parameters())
    return X, seconds["train"] + seconds["validation"], total


def _probe(exp, profile, data: Prepared):
    X, embed_s, total = _features(exp, profile, data)
    y = {s: data.raw[s]["label"] for s in X}
    start = time.perf_counter()
    clf = probe(X["train"], y["train"], C=exp.rate, seed=exp.seed)
    head = probe_params(clf)
    record = {"val_accuracy": float(clf.score(X["validation"], y["validation"])),
              "trainable_params": head, "total_params": total + head, "checkpoint_size_mb": head * 4 / 2**20,
              "embed_time_s": embed_s, "fit_time_s": time.perf_counter() - start}
    record["wall_time_s"] = record["embed_time_s"] + record["fit_time_s"]
    return record, lambda: clf.predict(X["test"])


def _head(exp, profile, data: Prepared):
    X, embed_s, total = _features(exp, profile, data)
    y = {s: data.raw[s]["label"] for s in X}
    fit = train_head(X["train"], y["train"], X["validation"], y["validation"], epochs=HEAD_EPOCHS,
                     patience=HEAD_PATIENCE, lr=exp.rate, batch_size=exp.batch_size or profile.batch_size,
                     seed=exp.seed)
    record = {"val_accuracy": fit.accuracy, "val_curve": fit.val_curve, "best_epoch": fit.best_epoch,
              "stopped_early": fit.stopped_early, "train_loss": fit.losses[fit.best_epoch - 1],
              "trainable_params": fit.trainable_params, "total_params": total + fit.trainable_params,
              "checkpoint_size_mb": fit.trainable_params * 4 / 2**20, "embed_time_s": embed_s,
              "fit_time_s": fit.train_time_s}
    record["wall_time_s"] = record["embed_time_s"] + record["fit_time_s"]
    return record, lambda: fit.predict(X["test"])


def _majority(exp, profile, data: Prepared):
    top = int(np.bincount(data.raw["train"]["label"]).argmax())
    record = {"val_accuracy": float(np.mean(np.asarray(data.raw["validation"]["label"]) == top)),
              "trainable_params": 0, "total_params": 0, "checkpoint_size_mb": 0.0}
    return record, lambda: np.full(len(data.raw["test"]), top)


def _config(exp, profile, schedule="linear"):
    """The loop's settings: validation accuracy each epoch (or `evaluations` times over max_steps),
    early stopping with the profile's patience, best weights restored."""
    eval_every = math.ceil(exp.max_steps / (exp.evaluations or 1)) if exp.max_steps else None
    return TrainConfig.from_profile(profile, lr=exp.rate, epochs=exp.epochs or profile.epochs, max_steps=exp.max_steps,
                                    eval_every=eval_every, batch_size=exp.batch_size or profile.batch_size,
                                    schedule=schedule, seed=exp.seed, early_stopping_patience=exp.patience or profile.patience)


def recipe(exp: Experiment, profile, model) -> tuple:
    """(param_groups, TrainConfig, on_epoch) for one method: which weights train, how fast, how long."""
    if exp.method == "ulmfit":  # one run: all groups in one optimizer, unfrozen top-down, one schedule
        model.requires_grad_(True)
        groups = discriminative_groups(model, exp.rate, exp.decay, exp.head_lr)
        return groups, _config(exp, profile, schedule="slanted"), ulmfit_unfreezing(model, exp, profile)
    if exp.method == "bitfit" or exp.method in LORA_TARGETS:  # small new sets of weights: one rate for all of them
        if exp.method == "bitfit":
            bitfit(model)
        return two_rate_groups(model, exp.rate, exp.rate), _config(exp, profile), None
    if exp.method != "full":
        freeze(model, {"head": 0, "last1": 1, "last2": 2}[exp.method])
    return two_rate_groups(model, exp.rate, exp.head_lr), _config(exp, profile), None


def ulmfit_unfreezing(model, exp: Experiment, profile):
    """on_epoch for ULMFiT's gradual unfreezing: epoch e trains the head and the top stages[e] blocks
    (one more each epoch), the last stage everything, embeddings included."""
    stages = unfreezing_stages(model, exp.epochs or profile.epochs)

    def on_epoch(epoch: int):
        k = stages[min(epoch, len(stages) - 1)]
        if k < stages[-1]:
            freeze(model, k)
        else:
            model.requires_grad_(True)
    return on_epoch


def train_model(exp: Experiment, profile, model, train, tokenizer, validation=None):
    """Train `model` by the method's recipe, early-stopping on `validation`; returns the TrainResult."""
    groups, config, on_epoch = recipe(exp, profile, model)
    return fit(model, train, validation, config, param_groups=groups, tokenizer=tokenizer, on_epoch=on_epoch)


def _trained(exp, profile, data: Prepared):
    start = time.perf_counter()
    model = build_model(exp, data.num_labels)
    run = train_model(exp, profile, model, data.train, data.tokenizer, data.validation)
    trainable, total = count_params(model)
    curve = [row["eval_accuracy"] for row in run.history if "eval_accuracy" in row]
    losses = [row for row in run.history if "train_loss" in row and row["step"] <= (run.restored_step or run.steps)]
    record = {"val_accuracy": run.metrics["accuracy"], "val_curve": curve, "best_epoch": run.best_epoch,
              "best_step": run.best_step, "stopped_early": run.stopped_early,
              "train_loss": losses[-1]["train_loss"] if losses else run.train_loss,
              "trainable_params": trainable, "total_params": total, "checkpoint_size_mb": saved_size_mb(model),
              "steps": run.steps, "train_time_s": run.train_time_s, "examples_per_s": run.examples_per_s,
              "precision": run.precision, "distributed": run.distributed, "processes": run.processes,
              "fit_time_s": time.perf_counter() - start}
    return record, lambda: predictions(model, data.test, data.tokenizer)


def predictions(model, dataset, tokenizer):
    """The model's predicted class for every example of a tokenised dataset, in order."""
    out = evaluate(model, dataset, tokenizer=tokenizer, compute_metrics=lambda p, y: {"predictions": p})
    return np.asarray(out["predictions"])


RUNNERS = {"majority": _majority, "probe": _probe, "head": _head}


def build_model(exp: Experiment, num_labels: int):
    """The method's model before training: the course classifier, wrapped in LoRA for the LoRA methods."""
    model = classifier(exp.model, num_labels, seed=exp.seed)
    if exp.method not in LORA_TARGETS:
        return model
    return add_lora(model, r=exp.lora_r, target_modules=LORA_TARGETS[exp.method])


def result_path(exp: Experiment, out_dir=None, profile=None) -> Path:
    """Where run() writes this experiment's result JSON."""
    profile = profile or get_profile()
    data = data_name(exp.data, exp.text_column, exp.label_column)
    return Path(out_dir or RESULTS / profile.name) / result_name(exp.name, exp.model, data,
                                                                 profile.name, exp.seed)


def from_file(path) -> Experiment:
    """An Experiment from a TOML or JSON file of its fields (for `tlcourse train CONFIG`)."""
    text = Path(path).read_text()
    fields = tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text)
    unknown = sorted(set(fields) - set(Experiment.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{path}: unknown fields {unknown}; use {sorted(Experiment.__dataclass_fields__)}")
    return Experiment(**fields)


def run(exp: Experiment, out_dir: str | Path | None = None, profile=None, candidates=None) -> dict:
    """Run one experiment in the active profile: train (early-stopping on validation), score the
    test set once, write the result JSON; returns the record.

    candidates: the learning-rate search that chose exp.lr ([{"lr", "val_accuracy"}]), recorded."""
    profile = profile or get_profile()
    record, score_test = _validated(exp, profile)
    if int(os.environ.get("RANK", "0")) != 0:  # under `accelerate launch`: one writer
        return record
    return json.loads(_write(exp, profile, record, score_test, candidates, out_dir).read_text())


def _validated(exp: Experiment, profile):
    """Train one experiment and score it on validation: (record, function that scores the test set)."""
    seed_everything(exp.seed)
    whole = source(exp)
    data = prepare(exp, profile, whole)
    start = time.perf_counter()
    with PeakTracker() as mem:
        record, test_predictions = RUNNERS.get(exp.method, _trained)(exp, profile, data)
    record = {"wall_time_s": time.perf_counter() - start} | record  # feature methods: embedding from scratch + fit
    record |= {"peak_memory_mb": mem.mb, "lr": exp.rate,
               "train_size": len(data.train), "validation_size": len(data.validation), "test_size": len(data.test),
               "data_source": data_source(exp.data)} | asked(exp, profile, whole)
    labels = data.raw["test"]["label"]
    return record, lambda: scored(test_predictions(), labels)


def scored(predictions, labels) -> dict:
    """Test accuracy and the per-item correctness that paired comparisons need."""
    correct = (np.asarray(predictions) == np.asarray(labels)).astype(int)
    return {"metrics": {"accuracy": float(correct.mean())}, "test_correct": correct.tolist()}


def _write(exp, profile, record, score_test, candidates, out_dir) -> Path:
    record = dict(record) | score_test() | {"candidates": candidates or []}
    return write_result(out_dir or RESULTS / profile.name, method=exp.name, model=exp.model,
                        data=data_name(exp.data, exp.text_column, exp.label_column), profile=profile.name,
                        seed=exp.seed, **record)


def chosen_rates(frame, methods=tuple(GRID)) -> list[str]:
    """One line per method of `frame` (result rows) with a rate grid: the rate its runs used and where
    it sits in GRID (protocol.grid_position); a choice at the top or the bottom may lie beyond the grid."""
    lines = []
    for method in methods:
        rates = sorted(frame.loc[frame.method == method, "lr"].dropna().unique()) if "lr" in frame else []
        if method in GRID and rates:
            grid = GRID[method][0]
            where = "; ".join(f"{r:g}, {grid_position(r, grid)}" for r in rates)
            lines.append(f"{method}: {'C' if method == 'probe' else 'lr'} {where} "
                         f"(candidates {', '.join(f'{g:g}' for g in grid)})")
    return lines


def choose_lr(method: str, out_dir=None, profile=None, **fields) -> Choice:
    """The method's learning rate (the probe's C) chosen on validation accuracy at seed 0 from
    GRID[method] (protocol.search: every candidate's record kept under <out_dir>/sweep/); the
    winner's (record, test scorer) when it was trained in this call."""
    profile = profile or get_profile()
    whole = source(Experiment(method, **fields))

    def exp(lr):
        return Experiment(method, seed=0, **fields | {"lr": lr})

    return search(result_path(exp(None), profile=profile).stem, GRID[method][0], lambda lr: _validated(exp(lr), profile),
                  Path(out_dir or RESULTS / profile.name), lambda lr: asked(exp(lr), profile, whole),
                  describe=lambda lr, r: {"lr": lr, "val_accuracy": r["val_accuracy"], "best_epoch": r.get("best_epoch")})


def experiment_fields(exp: Experiment) -> dict:
    """The experiment's fields as a result file records them (the data as data.data_source names it)."""
    return asdict(replace(exp, data=data_source(exp.data)))


def asked(exp: Experiment, profile, whole=None) -> dict:
    """What a stored run must have been made from to stand for `exp` now (protocol.stored): its
    fields, the protocol and the data. whole: source(exp) when already loaded."""
    return {"experiment": experiment_fields(exp), "protocol": protocol(exp, profile),
            "data_hash": data_hash(source(exp) if whole is None else whole)}


def run_grid(methods=tuple(METHODS), seeds=None, out_dir=None, skip_existing: bool = True,
             profile=None, **fields) -> list[dict]:
    """Every method x every seed of the profile (tqdm progress); returns the records.

    Without lr= in fields, each method's rate is first chosen on validation at seed 0 (choose_lr),
    and every seed runs at it. skip_existing: read a result file that is already there instead of
    running it again, while it stands for the run asked now (protocol.stored); otherwise it is
    rerun, and the reason is printed.
    fields: Experiment fields shared by every run (data=..., text_column=..., train_size=...).
    profile: the active profile, or one with fields overridden (e.g. a longer max_length).
    """
    profile = profile or get_profile()
    records = []
    for method in tqdm(methods, desc="methods"):
        choice = Choice(fields.get("lr"))
        if "lr" not in fields and method in GRID:
            choice = choose_lr(method, out_dir, profile, **fields)
        whole = source(Experiment(method, **fields))
        for seed in seeds or profile.seeds:
            exp = Experiment(method, seed=seed, **fields | {"lr": choice.value})
            path = result_path(exp, out_dir, profile)
            old = stored(path, asked(exp, profile, whole)) if skip_existing else None
            if old:
                if choice.candidates and old.get("candidates") != choice.candidates:  # a wider search chose the same rate
                    old["candidates"] = choice.candidates
                    write_json(path, old)
                records.append(old)
            elif choice.winner and seed == 0:  # the search's winner: score it, do not train it again
                path = _write(exp, profile, *choice.winner, choice.candidates, out_dir)
                records.append(json.loads(path.read_text()))
            else:
                records.append(run(exp, out_dir, profile, choice.candidates))
    return records


def train_classifier(exp, profile=None, cache: bool = True):
    """run's recipe for one method, returning the trained model (run keeps only the numbers).

    Returns (model, test metrics, data) with data = (train, test, tokenizer, num_labels, raw) from
    prepare; training early-stops on its validation set. With cache, the weights are
    saved under data/cache/trained/ (trained_path) and reloaded by a later call with the same
    experiment fields, protocol and data (lesson 08 reuses lesson 07's teacher).
    """
    profile = profile or get_profile()
    seed_everything(exp.seed)
    data = prepare(exp, profile)
    model = build_model(exp, data.num_labels)
    path = trained_path(exp, profile)
    if cache and path.exists():
        weights.load_model(model, path)
    else:
        train_model(exp, profile, model, data.train, data.tokenizer, data.validation)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")  # renamed whole: a concurrent reader never sees half a file
            weights.save_model(model, str(tmp))
            tmp.replace(path)
    metrics = evaluate(model, data.test, tokenizer=data.tokenizer)
    return model.eval(), metrics, (data.train, data.test, data.tokenizer, data.num_labels, data.raw)


def trained_path(exp, profile):
    """Where train_classifier keeps the weights of `exp`: named by its fields, protocol and data."""
    key = json.dumps([experiment_fields(exp), protocol(exp, profile), data_hash(source(exp))], sort_keys=True, default=str)
    name = result_path(exp, ".", profile).stem + "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return CACHE / "trained" / f"{name}.safetensors"
