"""Exercise checks for lesson 02 (zero-shot baselines)."""
import numpy as np

from .feedback import close, correct


def _softmax(a, axis=-1):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_label_probs(probs, logp) -> str:
    """`probs` (N, K) should be the label words' probabilities renormalised over the K words."""
    logp, probs = np.asarray(logp, dtype=float), np.asarray(probs, dtype=float)
    expected = _softmax(logp, axis=1)
    if probs.shape != expected.shape:
        raise AssertionError(f"Expected shape {expected.shape} (one row per review, one column per "
                             f"label word), got {probs.shape}.")
    if np.allclose(probs, expected, atol=1e-5):
        return correct(f"on average the model gives the positive word {expected[:, -1].mean():.0%} "
                       "of the probability the two label words share")
    if np.allclose(probs, np.exp(logp), atol=1e-6):
        raise AssertionError("These are the probabilities over the whole vocabulary: the rows do not "
                             "sum to 1. Divide each row by its sum (a softmax over the label words).")
    if np.allclose(probs, _softmax(logp, axis=0), atol=1e-5):
        raise AssertionError("You normalised each column (over reviews); normalise each row, over "
                             "the label words: axis=1.")
    if np.allclose(probs, logp / logp.sum(1, keepdims=True), atol=1e-5):
        raise AssertionError("Those are log-probabilities divided by their sum; take exp first, "
                             "then divide by the row's sum.")
    raise AssertionError("Not the expected values: exp(logp) divided by its row sum, i.e. "
                         "scipy.special.softmax(logp, axis=1).")


def check_calibrated_accuracy(acc, logp, content_free, y) -> str:
    """`acc` should be the accuracy of argmax(logp - content_free) (contextual calibration)."""
    logp, cf, y = np.asarray(logp, dtype=float), np.asarray(content_free, dtype=float), np.asarray(y)
    expected = float(((logp - cf.reshape(1, -1)).argmax(1) == y).mean())
    plain = float((logp.argmax(1) == y).mean())
    if close(acc, expected, rel=1e-3):
        return correct(f"calibration moves the accuracy from {plain:.1%} to {expected:.1%}")
    if close(acc, 100 * expected, rel=1e-3):
        raise AssertionError("That is a percentage; give the accuracy as a fraction (0..1).")
    if close(acc, plain, rel=1e-3) and not close(plain, expected, rel=1e-3):
        raise AssertionError("That is the uncalibrated accuracy: subtract the content-free "
                             "log-probabilities from every row before the argmax.")
    if close(acc, ((logp + cf.reshape(1, -1)).argmax(1) == y).mean(), rel=1e-3):
        raise AssertionError("You added the content-free log-probabilities; subtract them: "
                             "the point is to remove the bias the prompt alone gives.")
    if close(acc, ((logp - cf.reshape(1, -1)).argmin(1) == y).mean(), rel=1e-3):
        raise AssertionError("Use argmax (the most likely label), not argmin.")
    raise AssertionError(f"Expected {expected:.4f}, got {acc}: argmax over axis 1 of "
                         "logp - content_free, compared with y, averaged.")


def check_cosine(sims, X, D) -> str:
    """`sims` (N, K) should be the cosine similarity of each row of X (N, C) to each row of D (K, C)."""
    X, D, sims = (np.asarray(a, dtype=float) for a in (X, D, sims))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    expected = unit(X) @ unit(D).T
    if sims.shape == expected.T.shape and sims.shape != expected.shape:
        raise AssertionError(f"Shape {sims.shape} is transposed: one row per review, one column per "
                             "description: X @ D.T, not D @ X.T.")
    if sims.shape != expected.shape:
        raise AssertionError(f"Expected shape {expected.shape}, got {sims.shape}.")
    if np.allclose(sims, expected, atol=1e-5):
        return correct(f"{(expected.argmax(1) == 1).mean():.0%} of the reviews are closer to "
                       "the positive description")
    if np.allclose(sims, X @ D.T, atol=1e-4):
        raise AssertionError("Those are dot products: divide each vector by its length first "
                             "(np.linalg.norm(..., axis=1, keepdims=True)).")
    if np.allclose(sims, unit(X) @ D.T, atol=1e-5) or np.allclose(sims, X @ unit(D).T, atol=1e-5):
        raise AssertionError("Normalise both sides: the reviews *and* the descriptions.")
    raise AssertionError("Not the expected values: normalise every row of X and D to length 1, "
                         "then X @ D.T.")
