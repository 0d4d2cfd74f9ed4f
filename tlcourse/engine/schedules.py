"""Learning-rate schedules: a multiplier of the peak lr for every optimizer step.

- "linear":   warm up from 0 to the peak, then decay linearly to 0 (BERT, and the Trainer default).
- "slanted":  ULMFiT's slanted triangular rate (Howard & Ruder 2018, eq. 3): a short steep rise
              over the first `cut_frac` of the steps, then a long linear decay; the lowest rate
              is the peak / `ratio`.
- "constant": the peak all the way (useful to see what a schedule buys).
"""
import math
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR


def slanted_triangular(step, total_steps, cut_frac=0.1, ratio=32):
    """ULMFiT eq. 3, as a multiplier in [1/ratio, 1]; it peaks at step floor(total_steps * cut_frac)."""
    cut = max(1, math.floor(total_steps * cut_frac))
    if step < cut:
        p = step / cut
    else:
        p = 1 - (step - cut) / (cut * (1 / cut_frac - 1))
    return (1 + max(p, 0.0) * (ratio - 1)) / ratio


def _constant(step):
    return 1.0


def make_schedule(optimizer, name, total_steps, warmup_ratio=0.0, cut_frac=0.1, ratio=32):
    """A LambdaLR for `name` in {"linear", "slanted", "constant"}, stepped once per optimizer step.

    The multipliers are module-level functions (or partials of them) so the scheduler's
    state_dict holds only numbers and can go into a checkpoint as JSON.
    """
    if name == "linear":
        from transformers import get_linear_schedule_with_warmup

        return get_linear_schedule_with_warmup(optimizer, round(warmup_ratio * total_steps), total_steps)
    if name == "slanted":
        return LambdaLR(optimizer, partial(slanted_triangular, total_steps=total_steps, cut_frac=cut_frac, ratio=ratio))
    if name == "constant":
        return LambdaLR(optimizer, _constant)
    raise ValueError(f"unknown schedule {name!r}: use 'linear', 'slanted' or 'constant'")


def lr_curve(name, total_steps, lr=1.0, **kwargs):
    """The lr at every step of a schedule, without training (for plots in the lessons)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_schedule(opt, name, total_steps, **kwargs)
    lrs = []
    for _ in range(total_steps):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return lrs
