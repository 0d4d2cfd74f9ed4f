"""Exercise checks for lesson 07 (distillation)."""
import math

import torch

from ..methods.freezing import blocks
from .feedback import close, correct


def check_soft_targets(probs, logits, temperature: float) -> str:
    """`probs`: softmax(logits / temperature) over the last dimension."""
    logits = torch.as_tensor(logits, dtype=torch.float32)
    expected = (logits / temperature).softmax(-1)
    probs = torch.as_tensor(probs, dtype=torch.float32)
    if probs.shape != expected.shape:
        raise AssertionError(f"Expected shape {tuple(expected.shape)}, got {tuple(probs.shape)}: "
                             "one probability per class, for every example.")
    if torch.allclose(probs, expected, atol=1e-4):
        top = expected.max(-1).values.mean().item()
        return correct(f"at T={temperature:g} the most likely class gets {top:.0%} on average; "
                       "the rest of the mass is what the student learns from")
    if torch.allclose(probs, logits.softmax(-1), atol=1e-4):
        raise AssertionError("That is the softmax at T=1: divide the logits by the temperature first.")
    if torch.allclose(probs, (logits * temperature).softmax(-1), atol=1e-4):
        raise AssertionError("You multiplied by the temperature; divide: a higher T softens.")
    if not torch.allclose(probs.sum(-1), torch.ones(len(probs)), atol=1e-3):
        raise AssertionError("Each row must sum to 1: take the softmax over the classes (dim=-1).")
    raise AssertionError("Expected (logits / temperature).softmax(-1).")


def check_student_blocks(student, teacher, keep) -> str:
    """`student`: tlcourse.methods.distill.shrink(teacher, keep) — fewer blocks, the teacher's weights."""
    got, source = blocks(student), blocks(teacher)
    if len(got) != len(keep):
        raise AssertionError(f"The student has {len(got)} blocks; keep={list(keep)} asks for {len(keep)}.")
    for i, j in enumerate(keep):
        a, b = next(got[i].parameters()), next(source[j].parameters())
        if a.shape != b.shape or not torch.equal(a, b):
            raise AssertionError(f"Student block {i} is not a copy of teacher block {j}: build it with "
                                 "shrink(teacher, keep), which copies the kept blocks' weights.")
    n_s, n_t = (sum(p.numel() for p in m.parameters()) for m in (student, teacher))
    return correct(f"{len(keep)} of {len(source)} blocks: {n_s:,} parameters, {n_s / n_t:.0%} of the "
                   "teacher's (the embeddings, kept whole, are a large share)")


def check_entropy_bits(value, probs) -> str:
    """`value`: the entropy of the distribution `probs`, in bits."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    p = p[p > 0]
    expected = float(-(p * p.log2()).sum())
    if close(value, expected, rel=1e-3):
        return correct(f"{expected:.2f} bits: as uncertain as a fair choice among "
                       f"{2 ** expected:.1f} options; a one-hot target has 0 bits")
    if close(value, expected * math.log(2), rel=1e-3):
        raise AssertionError("That is the entropy in nats (natural log); use log2 for bits.")
    if value is not None and value < 0:
        raise AssertionError("Entropy is never negative: it is minus the sum of p * log2(p).")
    raise AssertionError("Expected -(p * log2(p)).sum() over the entries with p > 0.")
