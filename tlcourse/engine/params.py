"""Which parameters train, counted, and how AdamW treats them: the rules the loop and every
method's parameter groups share."""
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights are counted once."""
    params = list(model.parameters())  # .parameters() already yields a shared tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def decays(p) -> bool:
    """Whether AdamW's weight decay applies to `p`: to matrices, never to biases and norms (1-d)."""
    return p.ndim >= 2


def one_rate_groups(model, weight_decay: float) -> list:
    """fit's default: every trainable parameter at the optimizer's learning rate, in a group that
    decays and one that does not."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if decays(p)], "weight_decay": weight_decay},
              {"params": [p for p in params if not decays(p)], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def trainable_copy(model) -> dict:
    """A copy of the trainable weights by name, off the accelerator (it may be a whole model): what a run
    keeps at its best evaluation, to end with (train.fit, and the course's loops beside it)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def put_back(model, weights: dict) -> None:
    """Copy `weights` (a trainable_copy) into the model's parameters of the same names."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)


def saved_size_mb(model) -> float:
    """Size of what must be stored beside the public base model: the trainable weights."""
    tensors = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    with tempfile.TemporaryDirectory() as tmp:
        save_file(tensors, f"{tmp}/w.safetensors")
        return Path(f"{tmp}/w.safetensors").stat().st_size / 2**20
