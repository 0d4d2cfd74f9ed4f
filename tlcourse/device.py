"""Device and precision choice, seeding, and memory figures."""
import os
import random
import resource
import sys


def pick_device(prefer: str | None = None) -> str:
    """cuda when present (or asked for), else mps on Apple silicon, else cpu."""
    import torch
    if prefer:
        return prefer
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def mixed_precision(setting: str = "auto", device: str | None = None) -> str:
    """Resolve a profile's precision: "auto" = bf16 on GPUs that have it, fp16 on a T4, else fp32."""
    import torch
    device = device or pick_device()
    if setting != "auto":
        return setting
    if device != "cuda":
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) so one seed gives one result."""
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def memory_report() -> dict:
    """Peak host memory, and GPU memory where there is a GPU, in MiB."""
    import torch
    report = {"host_peak_mb": round(peak_rss_mb(), 1)}
    if torch.cuda.is_available():
        report["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        report["gpu_total_mb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**20, 1)
    return report
