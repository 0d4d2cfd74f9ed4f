"""The exercise check lessons 03-11 share: is the gap between two methods real?

    check_gap(estimate, low, high, real, frame, "probe", "head")  # accuracy in %, from test_correct
The learner computes, from result rows (engine.records.load_results), method a minus method b on
the same test items, each item's score averaged over the seeds both ran, a 95% percentile
bootstrap interval that draws seeds and items together (both sources of noise), and whether that
interval excludes 0. The check recomputes it
with the course's one paired statistic (experiments.protocol.seed_paired) and, when an answer is wrong,
says what to change without printing the expected numbers.
"""
import math

import numpy as np

from ..experiments.protocol import excludes_zero, per_seed, seed_paired, seed_scores
from .feedback import correct

ESTIMATE_TOL = 0.05  # the estimate has no randomness: only rounding is forgiven (result's unit)
WIDTH_TOL = 0.1  # endpoints may move by this share of the interval's width (another bootstrap seed)
BORDER = 0.03  # 0 this close to an end (share of the width) is a verdict the bootstrap's draws decide


def _number(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"`{name}` should be one number, not {type(value).__name__}.") from None
    if not math.isfinite(value):
        raise AssertionError(f"`{name}` is {value}: check for an empty selection of rows.")
    return value


def _seed_gaps(frame, a: str, b: str, column: str, scale: float) -> list[float]:
    """a - b of the mean over items, one value per seed both ran (the answer of one seed alone)."""
    runs = {m: frame[frame.method == m].set_index("seed") for m in (a, b)}
    seeds = sorted(set(runs[a].index) & set(runs[b].index))
    return per_seed(*(scale * seed_scores(runs[m], column, seeds) for m in (a, b)))


def _estimate_hint(estimate, expected, frame, a, b, column, scale, tol) -> str:
    """What a wrong estimate most likely did, in words (never the expected number)."""
    near = lambda x, y: abs(x - y) <= tol
    if near(-estimate, expected) and not near(expected, 0):
        return f"The sign is flipped: the gap is {a} minus {b}, not {b} minus {a}."
    if scale != 1 and near(estimate * scale, expected):
        return f"That looks like a share (0..1): the scores are compared in points, multiply by {scale:g}."
    gaps = _seed_gaps(frame, a, b, column, scale)
    if len(gaps) > 1 and any(near(estimate, g) for g in gaps):
        return ("That is the gap of one seed: average each test item's score over the seeds both "
                "methods ran first, then take the mean over items.")
    return (f"The estimate is the mean over test items of {a}'s score minus {b}'s, each item's "
            f"score averaged over the seeds both ran, in points (column {column!r} x {scale:g}).")


def _interval_hint(width, expected_width) -> str:
    if width < (1 - 2 * WIDTH_TOL) * expected_width:
        return ("Your interval is too narrow. Did you resample the items alone? Training runs differ too: in "
                "each resample draw the seeds with replacement as well as the items (the same draws for both "
                "methods) and average the drawn items over the drawn seeds. Or did you treat each seed's run "
                "as separate items? The seeds of one item are not independent.")
    if width > (1 + 2 * WIDTH_TOL) * expected_width:
        return ("Your interval is too wide. Resample the items with the same draws for both methods "
                "(one index array for a and b), and take quantiles of the difference of the means: "
                "pairing cancels what makes an item easy or hard for both.")
    return ("The interval is shifted. Take the 2.5% and 97.5% quantiles of the resampled mean "
            "differences (a - b), each resample drawing as many items as the test set has.")


def check_gap(estimate, low, high, real, frame, a: str, b: str, column: str = "test_correct",
              scale: float = 100.0, tolerance: float = 0.5, unit: str = "points") -> str:
    """`estimate`, `low`, `high`: method a minus method b on the same test items of `frame`'s
    `column` (a per-item list in every result row) times `scale`, each item averaged over the seeds
    both ran, and its 95% paired bootstrap interval over seeds and items (protocol.paired_bootstrap,
    over_seeds); `real`: whether that interval excludes 0.
    Endpoints may differ by `tolerance` (the result's unit) or a tenth of the interval's width,
    whichever is larger: another random seed of the bootstrap moves them that much."""
    estimate, low, high = (_number(v, n) for v, n in ((estimate, "estimate"), (low, "low"), (high, "high")))
    if not isinstance(real, (bool, np.bool_)):
        raise AssertionError("`real` should be True or False: does the interval exclude 0?")
    expected, lo, hi, seeds = seed_paired(frame, a, b, column, scale)
    if abs(estimate - expected) > ESTIMATE_TOL:
        raise AssertionError(_estimate_hint(estimate, expected, frame, a, b, column, scale, 5 * ESTIMATE_TOL))
    if not low <= estimate <= high:
        raise AssertionError("low and high are the 2.5% and 97.5% quantiles of the resampled gaps: the "
                             "estimate lies between them (low first).")
    tol = max(tolerance, WIDTH_TOL * (hi - lo))
    if abs(low - lo) > tol or abs(high - hi) > tol:
        raise AssertionError(_interval_hint(high - low, hi - lo))
    expected_real, yours = excludes_zero(lo, hi), excludes_zero(low, high)
    borderline = min(abs(lo), abs(hi)) <= BORDER * (hi - lo) and bool(real) == yours
    if bool(real) != expected_real and not borderline:
        if bool(real) == yours:
            raise AssertionError("Your interval ends so close to 0 that its random draws decide the verdict: "
                                 "resample 10,000 times (or more) and decide again.")
        raise AssertionError("`real` is whether the interval excludes 0: True when low > 0 or high < 0. "
                             "An interval that contains 0 means the data cannot tell which method is ahead.")
    items = len(frame[frame.method == a][column].iloc[0])
    verdict = ("borderline: 0 is at the edge of the interval, and another bootstrap seed can move it "
               "across; do not call it shown" if borderline else
               f"the interval excludes 0: {a if expected > 0 else b} is ahead on these runs and items"
               if expected_real else "the interval includes 0: these runs and items cannot tell the two apart")
    return correct(f"{a} - {b} = {expected:+.1f} {unit}, 95% interval {lo:+.1f} to {hi:+.1f} over "
                   f"{items} test items, {seeds} seed(s): {verdict}")
