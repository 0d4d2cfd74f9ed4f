"""Which parameters train, counted, and how AdamW treats them: the rules the loop and every
method's parameter groups share."""


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
