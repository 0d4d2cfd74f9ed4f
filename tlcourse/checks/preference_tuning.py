"""Exercise checks for lesson 11 (preference tuning with DPO)."""
import math

import torch

from ..lessons.preference_tuning import distinct_2
from ..methods.dpo import dpo_loss
from .feedback import close, correct


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def check_dpo_loss(loss, logps: dict, beta: float) -> str:
    """`loss` should be -log σ(β((chosen - ref_chosen) - (rejected - ref_rejected))) for the four
    summed log-probabilities in `logps` (keys chosen, rejected, ref_chosen, ref_rejected)."""
    c, r, rc, rr = (logps[k] for k in ("chosen", "rejected", "ref_chosen", "ref_rejected"))
    expected = dpo_loss(*(torch.tensor([v]) for v in (c, r, rc, rr)), beta).item()
    margin = (c - rc) - (r - rr)
    if close(loss, expected, rel=1e-3):
        return correct(f"loss {expected:.4f}: the chosen continuation gained {c - rc:+.2f} nats over the "
                       f"reference, the rejected one {r - rr:+.2f}, so the margin is {margin:+.2f} and "
                       f"β × margin = {beta * margin:+.3f}")
    wrong = {"β is missing: scale the margin by beta before the sigmoid": -math.log(_sigmoid(margin)),
             "The reference is missing: subtract ref_chosen from chosen and ref_rejected from rejected":
                 -math.log(_sigmoid(beta * (c - r))),
             "The sign is flipped: the margin is (chosen's gain) - (rejected's gain)":
                 -math.log(_sigmoid(-beta * margin)),
             "That is log σ, not its negative: the loss is -log σ(...), a positive number":
                 math.log(_sigmoid(beta * margin)),
             "That is σ(...) itself, the probability the chosen one is preferred; the loss is -log of it":
                 _sigmoid(beta * margin)}
    for message, value in wrong.items():
        if close(loss, value, rel=1e-3):
            raise AssertionError(message + ".")
    raise AssertionError(f"Expected {expected:.4f}: the margin is (chosen - ref_chosen) - (rejected - "
                         "ref_rejected); the loss is -log σ(beta × margin).")


def check_gradient_weight(weight, logps: dict, beta: float) -> str:
    """`weight` should be σ(-β × margin), the factor by which DPO scales a pair's gradient
    (d loss / d chosen = -β × weight), checked against autograd."""
    values = {k: torch.tensor([float(v)], requires_grad=k == "chosen") for k, v in logps.items()}
    dpo_loss(values["chosen"], values["rejected"], values["ref_chosen"], values["ref_rejected"], beta).backward()
    expected = -values["chosen"].grad.item() / beta
    if close(weight, expected, rel=1e-3):
        return correct(f"weight {expected:.3f}: autograd's d loss / d log π(chosen) is {-beta * expected:.4f} "
                       f"= -β × weight. A pair the model already ranks right (a large margin) weighs "
                       "little; one it ranks wrong weighs up to 1")
    if close(weight, 1 - expected, rel=1e-3):
        raise AssertionError("That is σ(+β × margin), the probability of the right ranking; the weight is "
                             "σ(-β × margin), how wrong the ranking still is.")
    if close(weight, -beta * expected, rel=1e-3):
        raise AssertionError("That is the whole derivative (-β × weight); divide out -β to get the weight.")
    raise AssertionError(f"Expected {expected:.4f}: σ(-beta × margin), with the margin of exercise 1.")


def check_distinct_2(value, texts) -> str:
    """`value` should be distinct word bigrams / all word bigrams over `texts` (bigrams within a text)."""
    expected = distinct_2(texts)
    if close(value, expected, rel=1e-6):
        return correct(f"distinct-2 {expected:.3f}: repeated phrases lower it, so a model that says the "
                       "same praise every time scores low")
    joined = " ".join(texts).split()
    across = len(set(zip(joined, joined[1:]))) / max(1, len(joined) - 1)
    if close(value, across, rel=1e-6):
        raise AssertionError("You counted bigrams across the boundary between two texts; count them "
                             "within each text only.")
    words = [w for t in texts for w in t.split()]
    if close(value, len(set(words)) / len(words), rel=1e-6):
        raise AssertionError("That is distinct-1 (single words); count pairs of neighbouring words.")
    raise AssertionError(f"Expected {expected:.4f}: collect (word, next word) within each text, then "
                         "the number of different pairs divided by the number of pairs.")
