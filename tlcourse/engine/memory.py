"""Memory preflight: estimate a training run's peak before it starts, and refuse what cannot fit.

peak ≈ weights + gradients + optimizer state + activations saved for backward + transients.
The activations are not guessed from a formula: one forward pass at batch 1 counts the bytes
autograd saves, and that is scaled by the batch size (activations grow linearly with it).
Transients were measured on CPU (MiniLM-L6 and SmolLM2, tests/engine/test_memory.py): backward holds
the gradients of a block's activations beside them (about +30%), and AdamW's foreach step
needs a scratch copy the size of the trainable parameters.
"""
import os
from dataclasses import dataclass

import torch

from .device import peak_rss_mb

MB = 2**20


class PreflightError(MemoryError):
    """The run would not fit in memory; the message names smaller settings that would."""


@dataclass
class MemoryEstimate:
    weights_mb: float  # every parameter, trainable or not
    gradients_mb: float  # one gradient per trainable parameter
    optimizer_mb: float  # AdamW: two moments per trainable parameter
    activations_mb: float  # saved for backward, at the full batch size
    transient_mb: float  # activation gradients in backward + the optimizer step's scratch
    batch_size: int  # examples per forward pass
    seq_len: int  # tokens per example

    @property
    def total_mb(self) -> float:
        return (self.weights_mb + self.gradients_mb + self.optimizer_mb + self.activations_mb
                + self.transient_mb)


def saved_activation_bytes(model, batch: dict) -> int:
    """Bytes autograd keeps for backward during one forward pass (each storage counted once)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights and ptr not in seen:  # weights (and views of them) are not activations
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**batch)
    return total


def estimate(model, batch_size: int, seq_len: int, bytes_per_state: int = 4) -> MemoryEstimate:
    """Estimate peak training memory for AdamW at this batch size and sequence length."""
    device = next(model.parameters()).device
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    ids = torch.randint(0, model.config.vocab_size, (1, seq_len), device=device)  # (1, T)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    batch["labels"] = ids if hasattr(model, "lm_head") else torch.zeros(1, dtype=torch.long,
                                                                        device=device)
    per_example = saved_activation_bytes(model, batch)
    activations = per_example * batch_size / MB
    return MemoryEstimate(
        weights_mb=sum(p.numel() * p.element_size() for p in params) / MB,
        gradients_mb=trainable * bytes_per_state / MB,
        optimizer_mb=2 * trainable * bytes_per_state / MB,
        activations_mb=activations,
        transient_mb=0.3 * activations + trainable * bytes_per_state / MB,
        batch_size=batch_size, seq_len=seq_len)


def breakdown(models: dict, batch_size: int, seq_len: int) -> "pd.DataFrame":
    """Where training memory goes for each of `models` ({name: model}) at one batch shape: weights,
    gradients, AdamW state, saved activations and transients in MB (estimate()), their total, and the
    total's difference from the first model's: what a cheaper method saves, or adds."""
    import pandas as pd

    rows = {name: vars(estimate(model, batch_size, seq_len)) for name, model in models.items()}
    frame = pd.DataFrame(rows).T.drop(columns=["batch_size", "seq_len"])
    frame["total_mb"] = frame.sum(axis=1)
    frame["vs first_mb"] = frame.total_mb - frame.total_mb.iloc[0]
    return frame.round(1)


def differences(frame) -> list[str]:
    """breakdown()'s rows after the first, each part's change from the first in words: what is saved
    (negative) and what is not, or grows (positive)."""
    parts = {"weights": ["weights_mb"], "gradients and AdamW state": ["gradients_mb", "optimizer_mb"],
             "activations and transients": ["activations_mb", "transient_mb"]}
    base = frame.iloc[0]
    return [f"{name} vs {frame.index[0]}: " + ", ".join(
        f"{what} {(row[cols].sum() - base[cols].sum()):+,.0f} MB" for what, cols in parts.items())
        for name, row in frame.iloc[1:].iterrows()]


def available_mb(device: str = "cpu") -> float:
    """Free memory on the device: CUDA's free bytes, or the host's MemAvailable."""
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info()
        return free / MB
    try:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) / 1024
    except (OSError, KeyError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") / MB


def preflight(model, batch_size: int, seq_len: int, limit_mb: float | None = None,
              device: str = "cpu") -> MemoryEstimate:
    """Return the estimate, or raise PreflightError naming settings that would fit."""
    est = estimate(model, batch_size, seq_len)
    limit = limit_mb if limit_mb is not None else available_mb(device)
    if est.total_mb <= limit:
        return est
    per_example = 1.3 * est.activations_mb / batch_size  # saved activations + their gradients
    fixed = est.total_mb - per_example * batch_size
    fits = int((limit - fixed) // per_example) if limit > fixed else 0
    hints = [f"batch_size={fits} with grad_accum={-(-batch_size // fits)} (same effective batch)"
             if fits >= 1 else None,
             f"max_length={seq_len // 2} (activations shrink at least in proportion)",
             "LoRA (add_lora): gradients and optimizer state only for the adapters",
             "gradient checkpointing (model.gradient_checkpointing_enable()): "
             "activations recomputed in backward instead of stored"]
    raise PreflightError(
        f"this run needs about {est.total_mb:,.0f} MB (weights {est.weights_mb:,.0f}, gradients "
        f"{est.gradients_mb:,.0f}, optimizer {est.optimizer_mb:,.0f}, activations "
        f"{est.activations_mb:,.0f} at batch {batch_size} x {seq_len} tokens) but only "
        f"{limit:,.0f} MB is available. Try: " + "; or ".join(h for h in hints if h))


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


class PeakTracker:
    """Peak memory a block of code adds: GPU allocations, or host RSS above its starting size.

    On Linux the kernel's high-water mark is reset on entry, so earlier cells of a notebook
    (or earlier runs of a grid) do not leak into the figure; elsewhere ru_maxrss is used.
    """

    def __enter__(self):
        self.gpu = torch.cuda.is_available()
        if self.gpu:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated() / MB
        else:
            self.start = _rss_mb()
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        peak = torch.cuda.max_memory_allocated() / MB if self.gpu else _peak_rss_mb()
        self.mb = round(max(peak - self.start, 0.0), 1)
        return False


def _rss_mb() -> float:
    try:
        return _status_mb("VmRSS")
    except (OSError, StopIteration):
        return _peak_rss_mb()


def _peak_rss_mb() -> float:
    try:
        return _status_mb("VmHWM")
    except (OSError, StopIteration):
        return peak_rss_mb()
