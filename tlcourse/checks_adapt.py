"""Exercise checks for lessons 07 (distillation) and 08 (domain adaptation).

Each check prints and returns "Correct: ..." or raises AssertionError saying what likely went wrong.
"""
import math

import torch

from .checks import _close, _correct


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
        return _correct(f"at T={temperature:g} the most likely class gets {top:.0%} on average; "
                        "the rest of the mass is what the student learns from")
    if torch.allclose(probs, logits.softmax(-1), atol=1e-4):
        raise AssertionError("That is the softmax at T=1: divide the logits by the temperature first.")
    if torch.allclose(probs, (logits * temperature).softmax(-1), atol=1e-4):
        raise AssertionError("You multiplied by the temperature; divide: a higher T softens.")
    if not torch.allclose(probs.sum(-1), torch.ones(len(probs)), atol=1e-3):
        raise AssertionError("Each row must sum to 1: take the softmax over the classes (dim=-1).")
    raise AssertionError("Expected (logits / temperature).softmax(-1).")


def check_student_blocks(student, teacher, keep) -> str:
    """`student`: tlcourse.distill.shrink(teacher, keep) — fewer blocks, the teacher's weights."""
    from .freezing import blocks
    got, source = blocks(student), blocks(teacher)
    if len(got) != len(keep):
        raise AssertionError(f"The student has {len(got)} blocks; keep={list(keep)} asks for {len(keep)}.")
    for i, j in enumerate(keep):
        a, b = next(got[i].parameters()), next(source[j].parameters())
        if a.shape != b.shape or not torch.equal(a, b):
            raise AssertionError(f"Student block {i} is not a copy of teacher block {j}: build it with "
                                 "shrink(teacher, keep), which copies the kept blocks' weights.")
    n_s, n_t = (sum(p.numel() for p in m.parameters()) for m in (student, teacher))
    return _correct(f"{len(keep)} of {len(source)} blocks: {n_s:,} parameters, {n_s / n_t:.0%} of the "
                    "teacher's (the embeddings, kept whole, are a large share)")


def check_entropy_bits(value, probs) -> str:
    """`value`: the entropy of the distribution `probs`, in bits."""
    p = torch.as_tensor(probs, dtype=torch.float64)
    p = p[p > 0]
    expected = float(-(p * p.log2()).sum())
    if _close(value, expected, rel=1e-3):
        return _correct(f"{expected:.2f} bits: as uncertain as a fair choice among "
                        f"{2 ** expected:.1f} options; a one-hot target has 0 bits")
    if _close(value, expected * math.log(2), rel=1e-3):
        raise AssertionError("That is the entropy in nats (natural log); use log2 for bits.")
    if value is not None and value < 0:
        raise AssertionError("Entropy is never negative: it is minus the sum of p * log2(p).")
    raise AssertionError("Expected -(p * log2(p)).sum() over the entries with p > 0.")


def check_binary_labels(ds) -> str:
    """`ds`: drug_reviews with the neutral class dropped and labels 0 = negative, 1 = positive."""
    from .domain import binary
    from .loaders import load_dataset
    expected = binary(load_dataset("drug_reviews"))
    for split in expected:
        if split not in ds:
            raise AssertionError(f"The split {split!r} is missing: map every split of the DatasetDict.")
        labels = sorted(set(ds[split]["label"]))
        if len(ds[split]) == len(load_dataset("drug_reviews")[split]):
            raise AssertionError("Nothing was dropped: filter out the neutral reviews (label 1).")
        if labels != [0, 1]:
            raise AssertionError(f"{split} labels are {labels}; map positive (2) to 1 so labels are 0 and 1.")
        if list(ds[split]["label"]) != list(expected[split]["label"]):
            raise AssertionError(f"{split}: the labels differ from dropping neutral and mapping 0->0, 2->1.")
    n = {s: len(expected[s]) for s in expected}
    return _correct(f"two classes left: {n}")


def check_ppl_drop(value, before: float, after: float) -> str:
    """`value`: the relative fall in perplexity, (before - after) / before, as a fraction."""
    expected = (before - after) / before
    if _close(value, expected, rel=1e-3):
        verdict = "meets" if expected >= 0.2 else "falls short of"
        return _correct(f"perplexity fell by {expected:.1%}: this {verdict} the course's 20% goal "
                        "(Gururangan et al.: 21.75 -> 11.32 is 48%)")
    if _close(value, 100 * expected, rel=1e-3):
        raise AssertionError("That is in percent; give a fraction (0.25 for 25%).")
    if _close(value, (before - after) / after, rel=1e-3):
        raise AssertionError("Divide by the perplexity before adaptation, not after.")
    if _close(value, -expected, rel=1e-3):
        raise AssertionError("Wrong sign: a fall should be positive, (before - after) / before.")
    raise AssertionError(f"Expected (before - after) / before = ({before:.2f} - {after:.2f}) / {before:.2f}.")


def check_gap(value, scores) -> str:
    """`value`: the highest minus the lowest group score in `scores` (a pandas Series)."""
    expected = float(scores.max() - scores.min())
    if _close(value, expected, rel=1e-6):
        return _correct(f"{scores.idxmax()!r} scores {expected:.3f} higher than {scores.idxmin()!r} "
                        "on sentences identical but for that word")
    if _close(value, float(scores.std()), rel=1e-6):
        raise AssertionError("That is the standard deviation; the gap is max - min.")
    if _close(value, -expected, rel=1e-6):
        raise AssertionError("Wrong sign: take the highest minus the lowest.")
    raise AssertionError("Expected scores.max() - scores.min().")
