"""Weights between two models: WiSE-FT's interpolation of a base and its fine-tune, and a model soup
(the average of fine-tunes that started from the same base).

    tuned = merge(lora_model)                       # a LoRA fine-tune as plain weights: W + BA
    between = interpolated(base, tuned, alpha=0.5)  # (1 - alpha) * base + alpha * tuned, a new model
    soup = souped([seed0, seed1, seed2])            # the mean of their weights

For a LoRA fine-tune, (1 - alpha) W + alpha (W + BA) = W + alpha BA: interpolating is scaling the
adapter (a test checks it against peft's own scale). A soup of LoRA runs averages their products
B_i A_i, which is not the adapter whose A and B are the means.
"""
import copy

import torch


def _weights(model) -> dict:
    """Every floating-point parameter and buffer, by name (tied weights once)."""
    return {k: v for k, v in model.state_dict().items() if v.is_floating_point()}


def _check_same_shapes(models) -> None:
    first = {k: v.shape for k, v in _weights(models[0]).items()}
    for other in models[1:]:
        if {k: v.shape for k, v in _weights(other).items()} != first:
            raise ValueError("these models do not have the same weights (names and shapes): interpolate only "
                             "fine-tunes of one base model, with their adapters merged (methods.lora.merge)")


def combined(models: list, coefficients: list[float]):
    """A copy of models[0] whose every weight is sum_i c_i * models[i]'s, computed in fp32."""
    _check_same_shapes(models)
    out = copy.deepcopy(models[0])
    states = [_weights(m) for m in models]
    mixed = {k: sum(c * s[k].float() for c, s in zip(coefficients, states)).to(states[0][k].dtype)
             for k in states[0]}
    out.load_state_dict(mixed, strict=False)
    return out


def interpolated(base, tuned, alpha: float):
    """WiSE-FT: (1 - alpha) * base + alpha * tuned (alpha 0: the base, 1: the fine-tune)."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1] (0: the base model, 1: the fine-tune), got {alpha}")
    return combined([base, tuned], [1 - alpha, alpha])


def souped(models: list):
    """A uniform model soup: the mean of the models' weights."""
    if len(models) < 2:
        raise ValueError(f"a soup needs at least two models, got {len(models)}")
    return combined(models, [1 / len(models)] * len(models))


@torch.no_grad()
def max_logit_gap(a, b, input_ids) -> float:
    """The largest absolute difference between two models' logits on the same tokens."""
    return (a(input_ids).logits.float() - b(input_ids).logits.float()).abs().max().item()
