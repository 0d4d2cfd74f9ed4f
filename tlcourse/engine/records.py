"""One JSON file per experiment; every table and plot of results is built from these files.

A file records what was run (method, model, data, profile, seed), what came out (metrics) and
what it cost (parameters trained, time, memory, checkpoint size), on which machine and with
which library versions. No timestamps: rerunning an experiment rewrites the same file.
"""
import json
import math
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .device import mixed_precision

LIBRARIES = ("torch", "transformers", "accelerate", "peft", "datasets", "tokenizers", "safetensors",
             "numpy", "scikit-learn", "tiktoken", "gguf", "trl", "sacrebleu", "bitsandbytes")
KEYS = ("method", "model", "data", "profile")  # an experiment; seeds are its repetitions


def hardware():
    """CPU model and cores, and the GPU if there is one."""

    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                 if l.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "gpus": torch.cuda.device_count(), "platform": platform.platform(terse=True)}


def versions():
    found = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            found[lib] = version(lib)
        except PackageNotFoundError:
            found[lib] = None
    return found


def result_name(method, model, data, profile, seed) -> str:
    """`<method>__<model>__<data>__<profile>__seed<seed>.json`, safe as a file name."""
    parts = (re.sub(r"[^\w.-]+", "-", str(v)) for v in (method, model, data, profile))
    return "__".join(parts) + f"__seed{seed}.json"


def write_result(folder, *, method: str, model: str, data: str, profile: str, seed: int, metrics: dict,
                 trainable_params: int, total_params: int, wall_time_s: float | None,
                 peak_memory_mb: float | None, checkpoint_size_mb: float | None = None, **extra) -> Path:
    """Write `folder/<method>__<model>__<data>__<profile>__seed<seed>.json` and return its path.

    metrics: e.g. {"accuracy": 0.84, "loss": 0.39}; extra: anything else worth keeping (examples_per_s,
    the provenance a stored result is checked against, ...).
    checkpoint_size_mb: what must be stored beside the public base model (the trained weights).
    The precision is recorded as given in extra, else as this machine resolves the course's setting.
    """
    extra.setdefault("precision", _precision())
    record = {"method": method, "model": model, "data": data, "profile": profile, "seed": seed,
              "metrics": metrics, "trainable_params": trainable_params, "total_params": total_params,
              "trainable_share": trainable_params / total_params if total_params else 0.0, "wall_time_s": wall_time_s,
              "peak_memory_mb": peak_memory_mb, "checkpoint_size_mb": checkpoint_size_mb,
              "hardware": hardware(), "versions": versions()} | extra
    return write_json(Path(folder) / result_name(method, model, data, profile, seed), record)


def write_json(path, record: dict) -> Path:
    """Write a record as sorted, indented JSON, atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
    return path


def _precision() -> str:
    """What the course's precision setting means on this machine: "no" (fp32), "bf16" or "fp16"."""
    return mixed_precision()


def load_results(folder):
    """Every result JSON in `folder` as one DataFrame row; metrics become columns (metric_<name>).
    Its sweep/ subfolder holds validation records of settings searches, not results: not read."""
    rows = []
    for path in sorted(Path(folder).glob("*.json")):
        record = json.loads(path.read_text())
        if not all(k in record for k in KEYS + ("metrics",)):
            continue  # some other JSON (a benchmark, a manifest)
        flat = {k: v for k, v in record.items() if k not in ("metrics", "hardware", "versions")}
        flat |= {f"metric_{k}": v for k, v in record["metrics"].items()}
        rows.append(flat | {"gpu": record.get("hardware", {}).get("gpu"), "file": path.name})
    return pd.DataFrame(rows)


def lesson_results(folder, what: str, **match) -> pd.DataFrame:
    """The result rows of `folder` whose columns equal `match` (data=..., model=...), as a copy; when there
    are none, a FileNotFoundError that names `what` and says to run the lesson's cells first."""
    frame = load_results(folder)
    keep = pd.Series(not frame.empty, index=frame.index)
    for column, value in match.items():
        keep &= frame[column] == value if column in frame else False
    if not keep.any():
        raise FileNotFoundError(f"no {what} result files under {Path(folder).name}/: run the lesson's cells first")
    return frame[keep].copy()


def mean_std(values, decimals: int | None = None) -> str:
    """ "mean ± std" over seeds (std 0 for one seed), formatted by format_mean_std."""
    v = np.asarray(values, dtype=float)
    return format_mean_std(v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0, decimals)


def format_mean_std(mean: float, std: float, decimals: int | None = None) -> str:
    """The course's one format for mean ± std: both with the same decimals; decimals=None: enough
    for three significant digits of the mean, at most four (a mean nearer zero than that is noise)."""
    if decimals is None:
        decimals = min(4, max(0, 2 - math.floor(math.log10(abs(mean))))) if mean and math.isfinite(mean) else 1
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"







