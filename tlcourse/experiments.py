"""One experiment = one method, one model, one dataset, one seed -> one result JSON.

    run(Experiment("lora", seed=1))          # trains, evaluates on test, writes results/<profile>/
    run_grid(["probe", "head", "full"])      # every method x every seed of the profile
    run_grid(["probe", "lora"], data="my.csv", text_column="review", label_column="verdict")
The methods span the course: a frozen probe, partial fine-tuning, full fine-tuning, ULMFiT,
BitFit and LoRA. They share data, model, loop and evaluation, and differ only in what trains.
The data is a course dataset, a learner's file or a DatasetDict (data.load_splits); each result
file records the data's hash, and run_grid reruns a file whose data has changed since.
"""
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .config import RESULTS, get_profile

METHODS = {  # name -> what it trains (for tables and the decision explorer)
    "majority": "nothing: always the most common training label",
    "probe": "logistic regression on frozen mean-pooled features",
    "head": "the new linear head only",
    "last1": "head + last transformer block",
    "last2": "head + last two transformer blocks",
    "bitfit": "head + every bias",
    "lora": "head + rank-r adapters on attention query/value",
    "full": "every weight",
    "ulmfit": "every weight: gradual unfreezing, discriminative LRs, slanted triangular schedule",
}


@dataclass
class Experiment:
    method: str  # one of METHODS
    model: str = "minilm-l6"  # course model name or hub id
    data: object = "rotten_tomatoes"  # course dataset name, table file path, or DatasetDict
    text_column: str = "text"  # the file's or DatasetDict's text column (course data: "text")
    label_column: str = "label"  # the file's or DatasetDict's label column (course data: "label")
    seed: int = 0  # data order, dropout and the head's initial weights
    train_size: int | None = None  # labeled examples; None: the profile's
    lr: float = 5e-5  # pretrained weights (BERT paper range 2e-5..5e-5 ... 1e-4)
    head_lr: float = 1e-3  # the new head, and the small sets BitFit/LoRA train
    lora_r: int = 8  # LoRA rank
    epochs: int | None = None  # None: the profile's
    batch_size: int | None = None  # examples per step per process; None: the profile's
    tag: str = ""  # appended to the method name in the result file (e.g. "n64")

    @property
    def name(self) -> str:
        """The method as result files name it: "lora", or "lora-r4" with a tag."""
        return f"{self.method}-{self.tag}" if self.tag else self.method

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.lr <= 0 or self.head_lr <= 0:
            raise ValueError("learning rates must be positive")


def source(exp: Experiment):
    """The experiment's whole train and test splits, with text/label (data.load_splits)."""
    from .data import load_splits
    return load_splits(exp.data, exp.text_column, exp.label_column)


def prepare(exp: Experiment, profile, ds=None):
    """Tokenised train and test splits of the profile's size, and the label count.

    ds: source(exp) when already loaded. The validation split is left out: no method looks at it.
    """
    from .data import take, tokenize
    from .loaders import load_tokenizer
    sized = replace(profile, train_size=exp.train_size or profile.train_size)
    ds = take(source(exp) if ds is None else ds, sized, seed=exp.seed)
    tokenizer = load_tokenizer(exp.model)
    enc = tokenize(ds, tokenizer, profile.max_length)
    return enc["train"], enc["test"], tokenizer, ds["train"].features["label"].num_classes, ds


def _probe(exp, profile, data) -> dict:
    from .device import pick_device
    from .features import embed, probe
    from .loaders import load_model
    train, test, tokenizer, num_labels, raw = data
    start = time.perf_counter()
    model = load_model(exp.model, task="base").to(pick_device())
    X = [embed(model, tokenizer, raw[s]["text"], max_length=profile.max_length, progress=False)
         for s in ("train", "test")]
    clf = probe(X[0], raw["train"]["label"], seed=exp.seed)
    total = sum(p.numel() for p in model.parameters())
    head = X[0].shape[1] * num_labels + num_labels
    return {"metrics": {"accuracy": float(clf.score(X[1], raw["test"]["label"]))},
            "trainable_params": head, "total_params": total + head,
            "wall_time_s": time.perf_counter() - start, "checkpoint_size_mb": head * 4 / 2**20}


def _majority(exp, profile, data) -> dict:
    from .features import majority_accuracy
    raw = data[-1]
    return {"metrics": {"accuracy": majority_accuracy(raw["train"]["label"], raw["test"]["label"])},
            "trainable_params": 0, "total_params": 0, "wall_time_s": 0.0, "checkpoint_size_mb": 0.0}


def _config(exp, profile, epochs=None, schedule="linear"):
    from .train import TrainConfig
    return TrainConfig(lr=exp.lr, epochs=epochs or exp.epochs or profile.epochs,
                       batch_size=exp.batch_size or profile.batch_size, schedule=schedule, seed=exp.seed,
                       mixed_precision=profile.mixed_precision, progress=False)


def _stages(exp, profile, model) -> list:
    """[(param_groups, TrainConfig)] for one method: which weights train, how fast, how long."""
    from .freezing import (bitfit, discriminative_groups, freeze, two_rate_groups,
                           unfreezing_stages)
    if exp.method == "ulmfit":  # one epoch per stage: head only, then ever more blocks
        stages = []
        ks = unfreezing_stages(model, (exp.epochs or profile.epochs) + 1)
        for k in ks:
            unfreeze = lambda k=k: freeze(model, k) if k < ks[-1] else model.requires_grad_(True)
            stages.append((lambda u=unfreeze: discriminative_groups(u(), exp.lr, 2.6, exp.head_lr),
                           _config(exp, profile, epochs=1, schedule="slanted")))
        return stages
    if exp.method in ("bitfit", "lora"):  # small new sets of weights learn at the head's rate
        if exp.method == "bitfit":
            bitfit(model)
        return [(lambda: two_rate_groups(model, exp.head_lr, exp.head_lr), _config(exp, profile))]
    train_blocks = {"head": 0, "last1": 1, "last2": 2, "full": None}[exp.method]
    if train_blocks is not None:
        freeze(model, train_blocks)
    return [(lambda: two_rate_groups(model, exp.lr, exp.head_lr), _config(exp, profile))]


def saved_size_mb(model) -> float:
    """Size of what must be stored beside the public base model: the trainable weights."""
    import tempfile
    from safetensors.torch import save_file
    tensors = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as tmp:
        save_file(tensors, f"{tmp}/w.safetensors")
        return Path(f"{tmp}/w.safetensors").stat().st_size / 2**20


def build_model(exp: Experiment, num_labels: int):
    """The method's model before training: the course classifier, wrapped in LoRA for "lora"."""
    from .lora import add_lora
    from .models import classifier
    model = classifier(exp.model, num_labels, seed=exp.seed)
    return add_lora(model, r=exp.lora_r) if exp.method == "lora" else model


def train_model(exp: Experiment, profile, model, train, tokenizer) -> list:
    """Train `model` by the method's stages; returns one TrainResult per stage."""
    from .train import fit
    return [fit(model, train, None, config, param_groups=groups(), tokenizer=tokenizer)
            for groups, config in _stages(exp, profile, model)]


def _trained(exp, profile, data) -> dict:
    from .freezing import count_trainable
    from .train import evaluate
    train, test, tokenizer, num_labels, _ = data
    start = time.perf_counter()
    model = build_model(exp, num_labels)
    runs = train_model(exp, profile, model, train, tokenizer)
    metrics = evaluate(model, test, tokenizer=tokenizer)
    trainable, total = count_trainable(model)
    return {"metrics": metrics, "trainable_params": trainable, "total_params": total,
            "wall_time_s": time.perf_counter() - start, "checkpoint_size_mb": saved_size_mb(model),
            "steps": sum(r.steps for r in runs), "train_loss": runs[-1].train_loss,
            "examples_per_s": sum(r.examples_per_s for r in runs) / len(runs),
            "precision": runs[-1].precision, "distributed": runs[-1].distributed, "processes": runs[-1].processes}


RUNNERS = {"majority": _majority, "probe": _probe}


def result_path(exp: Experiment, out_dir=None, profile=None) -> Path:
    """Where run() writes this experiment's result JSON."""
    from .data import data_name
    from .results import result_name
    profile = profile or get_profile()
    data = data_name(exp.data, exp.text_column, exp.label_column)
    return Path(out_dir or RESULTS / profile.name) / result_name(exp.name, exp.model, data,
                                                                 profile.name, exp.seed)


def from_file(path) -> Experiment:
    """An Experiment from a TOML or JSON file of its fields (for `tlcourse train CONFIG`)."""
    import json
    import tomllib
    text = Path(path).read_text()
    fields = tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text)
    unknown = sorted(set(fields) - set(Experiment.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{path}: unknown fields {unknown}; use {sorted(Experiment.__dataclass_fields__)}")
    return Experiment(**fields)


def run(exp: Experiment, out_dir: str | Path | None = None, profile=None) -> dict:
    """Run one experiment in the active profile and write its result JSON; returns the record."""
    import json
    from .data import data_hash, data_name, data_source
    from .device import seed_everything
    from .memory import PeakTracker
    from .results import write_result
    profile = profile or get_profile()
    seed_everything(exp.seed)
    whole = source(exp)
    data = prepare(exp, profile, whole)
    with PeakTracker() as mem:
        record = RUNNERS.get(exp.method, _trained)(exp, profile, data)
    if int(os.environ.get("RANK", "0")) != 0:  # under `accelerate launch`: one writer
        return record
    given, name = data_source(exp.data), data_name(exp.data, exp.text_column, exp.label_column)
    path = write_result(out_dir or RESULTS / profile.name, exp.name, exp.model, name,
                        profile.name, exp.seed, peak_memory_mb=mem.mb, train_size=len(data[0]),
                        data_hash=data_hash(whole), data_source=given,
                        experiment=asdict(replace(exp, data=given)), **record)
    return json.loads(Path(path).read_text())


def run_grid(methods=tuple(METHODS), seeds=None, out_dir=None, skip_existing: bool = True,
             **fields) -> list[dict]:
    """Every method x every seed of the profile (tqdm progress); returns the records.

    skip_existing: read a result file that is already there instead of running it again
    (a lesson then shows the grid `make results` wrote, and reruns only what is missing),
    unless it records a data hash other than the data's now (a changed file): then rerun it.
    fields: Experiment fields shared by every run (data=..., text_column=..., train_size=...).
    """
    import functools
    from tqdm.auto import tqdm
    from .data import data_hash
    profile = get_profile()
    records = []
    jobs = [Experiment(m, seed=s, **fields) for m in methods for s in (seeds or profile.seeds)]
    current = functools.cache(lambda: data_hash(source(jobs[0])))  # every job shares the data
    for exp in tqdm(jobs, desc="experiments"):
        old = _existing(result_path(exp, out_dir, profile), current) if skip_existing else None
        records.append(old or run(exp, out_dir, profile))
    return records


def _existing(path: Path, current) -> dict | None:
    """The record at `path` when it stands for a run on today's data: its recorded data hash
    equals current() (called only then), or it records none (course files from before hashes)."""
    import json
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    return record if "data_hash" not in record or record["data_hash"] == current() else None
