"""Load models, tokenizers and datasets by name: the offline cache first, the hub when online.

    load_model("smollm2-135m")               # LlamaForCausalLM from the verified cache
    load_model("minilm-l6", task="classification", num_labels=2)
    load_dataset("rotten_tomatoes")          # DatasetDict: train / validation / test
    load_model("HuggingFaceTB/SmolLM2-360M")  # any hub id, when online
"""
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import assets
from .assets import AssetError, CACHE, require_verified
from .config import ROOT, offline
from .corpora import class_balance, DATASETS, label_check
from .quiet import no_data_bars, no_weight_bars


@dataclass(frozen=True)
class ModelSpec:
    asset: str  # raw asset it is built from (data/MANIFEST.toml)
    task: str  # default head: causal-lm | base
    hub_id: str  # the same model on the hub, for online users
    about: str  # one line for doctor and tables


MODELS = {
    "smollm2-135m": ModelSpec("smollm2-gguf", "causal-lm", "HuggingFaceTB/SmolLM2-135M-Instruct",
                              "SmolLM2-135M-Instruct, LlamaForCausalLM, 134.5M params"),
    "minilm-l6": ModelSpec("minilm-l6", "base", "sentence-transformers/all-MiniLM-L6-v2",
                           "all-MiniLM-L6-v2, BertModel, 22.7M params"),
}
TOKENIZERS = {**{name: name for name in MODELS}, "gpt2-bpe": "gpt2-bpe"}
TASKS = {  # task -> transformers auto class
    "causal-lm": "AutoModelForCausalLM",
    "classification": "AutoModelForSequenceClassification",
    "masked-lm": "AutoModelForMaskedLM",
    "base": "AutoModel",
}


class UnknownNameError(AssetError, LookupError):
    """A model, tokenizer or dataset name that is neither cached nor reachable."""


def model_dir(name: str) -> Path:
    return CACHE / "models" / name


def dataset_dir(name: str) -> Path:
    return CACHE / "datasets" / name


def _build_smollm2(raw: Path, out: Path) -> None:
    """Dequantise the GGUF once to float32 safetensors, so later loads take under a second."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    kwargs = dict(gguf_file=raw.name, dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(raw.parent, **kwargs)
    del model.config.quantization_config  # the weights are plain float32 now
    model.hf_quantizer = None
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(raw.parent, gguf_file=raw.name).save_pretrained(out)


def _build_minilm(raw: Path, out: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt"):
        shutil.copy(raw / name, out / name)


BUILDERS = {"smollm2-135m": _build_smollm2, "minilm-l6": _build_minilm}


def prepare_model(name: str) -> Path:
    raw = assets.fetch_raw(MODELS[name].asset)
    return assets.build_atomically(model_dir(name), lambda out: BUILDERS[name](raw, out))


def prepare_dataset(name: str) -> Path:
    corpus = DATASETS[name]
    raw = assets.fetch_raw(corpus.asset) if corpus.asset else None

    def build(out: Path) -> dict:
        frames = corpus.build(raw)
        label_check(frames, corpus)
        for split, df in frames.items():
            df.to_parquet(out / f"{split}.parquet", index=False)
        return {"rows": {s: len(df) for s, df in frames.items()}, "labels": corpus.labels,
                "balance": class_balance(frames)}
    return assets.build_atomically(dataset_dir(name), build)


def _hub_reachable(timeout: float = 1.5) -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


FAMILIES = {"smollm": "smollm2-135m", "minilm": "minilm-l6"}  # hub name part -> offline model


def _unknown(kind: str, name: str, known) -> UnknownNameError:
    why = ("offline (HF_HUB_OFFLINE=1)" if offline() else "the hub cannot be reached")
    near = next((v for k, v in FAMILIES.items() if k in name.lower()), None)
    hint = f" The nearest offline model is {near!r}." if near and kind != "dataset" else ""
    return UnknownNameError(f"unknown {kind} {name!r}: it is not in the course cache and {why}."
                            f"{hint} Offline {kind}s: {', '.join(sorted(known))}.")


def _check_hub(kind: str, name: str, known) -> None:
    """Fail in seconds, not after ~47 s of hub retries, when a hub name cannot be fetched."""
    if Path(name).exists():
        return
    if offline() or not _hub_reachable():
        raise _unknown(kind, name, known)


def _hub_equivalent(name: str) -> str | None:
    return next((k for k, spec in MODELS.items() if spec.hub_id.lower() == name.lower()), None)


def resolve_model(name: str) -> str:
    """A local folder for a course name (verified), a folder relative to the course checkout (so
    result files record no machine path), or a hub id / path passed through."""
    if name in MODELS:
        return str(require_verified(model_dir(name), f"model {name!r}"))
    if not Path(name).is_absolute() and not Path(name).exists() and (ROOT / name).is_dir():
        return str(ROOT / name)
    if offline() and (course_name := _hub_equivalent(name)):
        return resolve_model(course_name)
    _check_hub("model", name, MODELS)
    return name


def load_model(name: str, task: str | None = None, dtype=None, **kwargs):
    """A transformers model by course name or hub id; `task` picks the head (see TASKS)."""
    task = task or (MODELS[name].task if name in MODELS else "base")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if kwargs.pop("trust_remote_code", False):
        raise ValueError("trust_remote_code is off in this course: load models whose code ships "
                         "with transformers, or load it yourself if you trust its author")
    path = resolve_model(name)  # fails in seconds, before transformers is imported
    import transformers
    no_weight_bars()
    auto = getattr(transformers, TASKS[task])
    model = auto.from_pretrained(path, dtype=dtype, use_safetensors=True, **kwargs)
    if task == "classification" and model.config.pad_token_id is None:
        model.config.pad_token_id = model.config.eos_token_id  # decoder LMs ship without one
    return model


def load_tokenizer(name: str):
    """A transformers tokenizer by course name or hub id; "gpt2-bpe" gives a tiktoken Encoding."""
    if name == "gpt2-bpe":
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
        from tiktoken_ext.openai_public import r50k_pat_str
        ranks = load_tiktoken_bpe(str(assets.fetch_raw("gpt2-bpe")))
        return tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                 special_tokens={"<|endoftext|>": 50256})
    path = resolve_model(name)
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_dataset(name: str):
    """A DatasetDict of prepared splits by course name, or a hub dataset when online."""
    if name not in DATASETS and not Path(name).exists() and (offline() or not _hub_reachable()):
        raise _unknown("dataset", name, DATASETS)
    import datasets
    no_data_bars()
    if name not in DATASETS:
        return datasets.load_dataset(name)
    folder = require_verified(dataset_dir(name), f"dataset {name!r}")
    splits = {p.stem: datasets.Dataset.from_parquet(str(p), keep_in_memory=True)
              for p in sorted(folder.glob("*.parquet"))}
    labels = DATASETS[name].labels
    if labels:
        feature = datasets.ClassLabel(names=list(labels))
        splits = {k: v.cast_column("label", feature) for k, v in splits.items()}
    return datasets.DatasetDict(splits)


def prefetch(progress=print) -> dict:
    """Fetch, check and prepare every asset; a second run only verifies (seconds)."""
    states, start = {}, time.time()
    for name in MODELS:
        states[f"model {name}"] = _ensure(model_dir(name), lambda n=name: prepare_model(n))
    for name in DATASETS:
        states[f"dataset {name}"] = _ensure(dataset_dir(name), lambda n=name: prepare_dataset(n))
    states["tokenizer gpt2-bpe"] = assets.raw_state("gpt2-bpe")
    if states["tokenizer gpt2-bpe"] != "verified":
        assets.fetch_raw("gpt2-bpe")
        states["tokenizer gpt2-bpe"] = "fetched"
    for what, state in states.items():
        progress(f"  {what:28s} {state}")
    progress(f"prefetch done in {time.time() - start:.1f} s; cache: {CACHE}")
    return states


def _ensure(folder: Path, prepare) -> str:
    state = assets.stamp_state(folder)
    if state == "verified":
        return "verified"
    prepare()
    return "prepared" if state == "missing" else f"rebuilt ({state})"
