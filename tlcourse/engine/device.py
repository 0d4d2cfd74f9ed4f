"""Device and precision choice, seeding, and memory figures.

One rule for precision, used by training and inference alike (`precision()`):
    bf16 autocast on GPUs with bf16 and on CPUs that compute it natively (AVX512-BF16 or AMX),
    fp16 + loss scaling on older GPUs (a T4), fp32 elsewhere; TLCOURSE_PRECISION=fp32|bf16|fp16 forces one.
"""
import os
import random
import resource
import sys
from contextlib import nullcontext

import numpy as np
import torch

FORCED = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}  # TLCOURSE_PRECISION values -> precision
PRECISION_NAMES = {"no": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast + loss scaling"}


def pick_device(prefer: str | None = None) -> str:
    """cuda when present (or asked for), else mps on Apple silicon, else cpu."""
    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic in hardware (AVX512-BF16 or AMX), by torch's own check."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def mixed_precision(setting: str = "auto", device: str | None = None) -> str:
    """Resolve a precision setting ("auto", "no", "bf16", "fp16") to what runs on `device`."""
    return precision_and_reason(setting, device)[0]


def precision_and_reason(setting: str = "auto", device: str | None = None) -> tuple[str, str]:
    """(precision, why) for `setting` on `device` (default: the one pick_device chooses)."""
    device = str(device or pick_device()).split(":")[0]
    forced = os.environ.get("TLCOURSE_PRECISION", "").lower()
    if forced:
        if forced not in FORCED:
            raise ValueError(f"TLCOURSE_PRECISION={forced!r}: use one of {', '.join(FORCED)} (or leave it unset)")
        return FORCED[forced], f"TLCOURSE_PRECISION={forced} forces it"
    if setting != "auto":
        return setting, f"asked for {setting}"
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "this GPU computes bf16"
        return "fp16", "this GPU has no bf16: fp16 with loss scaling"
    if device == "cpu" and cpu_has_native_bf16():
        return "bf16", "this CPU computes bf16 natively: AVX512-BF16 or AMX"
    return "no", f"no native bf16 on this {device}: fp32"


def describe_precision(setting: str = "auto") -> str:
    """One line for a lesson's opening cell and `tlcourse doctor`: what runs here, and why."""
    precision, why = precision_and_reason(setting)
    return f"precision {PRECISION_NAMES[precision]} ({why})"


def autocast(model_or_device, setting: str = "auto"):
    """The autocast context inference runs under: bf16/fp16 where precision() says so, else none."""
    device = model_device(model_or_device) if hasattr(model_or_device, "parameters") else torch.device(model_or_device)
    chosen = mixed_precision(setting, device.type)
    if chosen == "no":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if chosen == "bf16" else torch.float16)


def model_device(model):
    """Where a model's weights live: every batch for it goes there."""
    return next(model.parameters()).device


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so one seed gives one result.

    Python's string hashing is fixed at interpreter start (PYTHONHASHSEED); nothing here depends on it."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def memory_report() -> dict:
    """Peak host memory, and GPU memory where there is a GPU, in MiB."""
    report = {"host_peak_mb": round(peak_rss_mb(), 1)}
    if torch.cuda.is_available():
        report["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        report["gpu_total_mb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**20, 1)
    return report
