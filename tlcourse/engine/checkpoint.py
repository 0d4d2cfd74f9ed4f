"""Atomic, verified checkpoints in safetensors.

A checkpoint is a folder `step-0000120/` holding
    model.safetensors      the weights (tied weights stored once)
    optimizer.safetensors  the optimizer's tensors (AdamW: exp_avg, exp_avg_sq, step per parameter)
    rng.safetensors        torch's CPU (and CUDA) random state
    state.json             step, epoch, position in the epoch, scheduler, param groups, history...
    manifest.json          the sha256 of each file above
It is written under a temporary name (`.tmp-step-…`), flushed to disk, then renamed: a rename is
atomic, so a crash leaves either the old checkpoints or the new one, never half of one; folders
with the temporary prefix are never read. safetensors (unlike pickle) cannot run code when loaded.
"""
import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from .assets import sha256_file as sha256

FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json")
NAME = re.compile(r"^step-(\d+)$")  # complete checkpoints only; ".tmp-step-…" never matches


class CheckpointError(RuntimeError):
    """A checkpoint is incomplete, corrupt or does not fit the model."""


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)  # works for files and folders on POSIX
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_checkpoints(root):
    """Complete checkpoints under `root`, oldest first."""
    root = Path(root)
    found = [p for p in root.iterdir() if p.is_dir() and NAME.match(p.name)] if root.is_dir() else []
    return sorted(found, key=lambda p: int(NAME.match(p.name)[1]))


def latest_checkpoint(root):
    found = list_checkpoints(root)
    return found[-1] if found else None


def rng_state():
    """Every random generator the training loop draws from (dropout, shuffling helpers)."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors |= {f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = {"python": random.getstate(), "numpy": [kind, keys.tolist(), pos, has_gauss, gauss]}
    return tensors, py


def set_rng_state(tensors, py):
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, keys, gauss = py["python"]
    random.setstate((version, tuple(keys), gauss))
    kind, keys, pos, has_gauss, gauss = py["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))


def _split_optimizer(state_dict):
    """Optimizer state → (tensors for safetensors, everything else for JSON)."""
    tensors, scalars = {}, {}
    for pid, slots in state_dict["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    return tensors, {"scalars": scalars, "param_groups": state_dict["param_groups"]}


def _join_optimizer(tensors, rest):
    state = {}
    for key, value in list(tensors.items()) + list(rest["scalars"].items()):
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_checkpoint(root, step, model, optimizer, scheduler, state, scaler=None, keep=2):
    """Write checkpoint `root/step-{step}` atomically; keep the newest `keep` (None: all). Returns its path."""
    root = Path(root)
    final, tmp = root / f"step-{step:07d}", root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, str(tmp / "model.safetensors"))
    opt_tensors, opt_rest = _split_optimizer(optimizer.state_dict())
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    rng_tensors, rng_py = rng_state()
    save_file(rng_tensors, str(tmp / "rng.safetensors"))
    state = state | {"step": step, "optimizer": opt_rest, "scheduler": scheduler.state_dict(), "rng": rng_py,
                     "scaler": scaler.state_dict() if scaler is not None else None}
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    manifest = {name: sha256(tmp / name) for name in FILES}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for name in FILES + ("manifest.json",):
        _fsync(tmp / name)
    _fsync(tmp)
    shutil.rmtree(final, ignore_errors=True)  # the same step saved again (e.g. after a resume)
    os.rename(tmp, final)
    _fsync(root)
    for old in list_checkpoints(root)[: -keep if keep else 0]:
        shutil.rmtree(old)
    return final


def verify_checkpoint(path):
    """Raise CheckpointError unless every file is present and matches its sha256 in the manifest."""
    path = Path(path)
    if not (path / "manifest.json").is_file():
        raise CheckpointError(f"{path} has no manifest.json: it is not a complete checkpoint.")
    manifest = json.loads((path / "manifest.json").read_text())
    for name in FILES:
        if not (path / name).is_file():
            raise CheckpointError(f"{path} is missing {name}.")
        actual = sha256(path / name)
        if actual != manifest.get(name):
            raise CheckpointError(
                f"Refusing checkpoint {path}: {name} has sha256 {actual[:12]}… but the manifest says "
                f"{str(manifest.get(name))[:12]}…. The file was changed or damaged after it was written. "
                f"Delete this folder to resume from an earlier checkpoint, or start afresh.")


def load_checkpoint(path, model, optimizer, scheduler, scaler=None):
    """Verify, then load weights, optimizer, scheduler (and fp16 scaler) in place and restore the RNG.

    Returns the loop's own state (step, epoch, position in the epoch, history, ...).
    """
    path = Path(path)
    verify_checkpoint(path)
    state = json.loads((path / "state.json").read_text())
    try:
        load_model(model, str(path / "model.safetensors"))
    except RuntimeError as e:
        raise CheckpointError(f"{path} does not fit this model: {e}") from e
    optimizer.load_state_dict(_join_optimizer(load_file(str(path / "optimizer.safetensors")), state["optimizer"]))
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(load_file(str(path / "rng.safetensors")), state["rng"])
    return state


def folder_mb(path) -> float:
    """What a checkpoint folder holds on disk (weights, optimizer state, RNG), in MiB."""
    return sum(f.stat().st_size for f in Path(path).iterdir()) / 2**20
