"""The shared "is this gap real?" check (tlcourse.checks.evidence): a right answer, by hand with
numpy and another bootstrap seed, passes; a constant, a swapped pair, a share, one seed alone,
an unpaired or unaveraged interval and a wrong verdict each fail with a hint, never the numbers."""
import numpy as np
import pandas as pd
import pytest

from tlcourse.checks.evidence import check_gap
from tlcourse.experiments.protocol import seed_paired

ITEMS, SEEDS = 400, (0, 1, 2)


@pytest.fixture(scope="module")
def frame():
    """Result rows of three methods at three seeds on the same items: "a" is ahead of "b" on fixed
    items (a real gap, the same at every seed), "c" is "b" with other seed noise (no gap)."""
    rng = np.random.default_rng(1)
    easy = rng.random(ITEMS) < 0.7  # (items,) what every method gets right
    helped, hurt = rng.random(ITEMS) < 0.4, rng.random(ITEMS) < 0.02  # (items,) where "a" differs
    rows = []
    for seed in SEEDS:
        noise = lambda: rng.random(ITEMS) < 0.03  # (items,) this seed's own flips
        correct = {"a": ((easy | helped) & ~hurt) ^ noise(), "b": easy ^ noise(), "c": easy ^ noise()}
        rows += [{"method": m, "seed": seed, "test_correct": c.astype(int).tolist()} for m, c in correct.items()]
    return pd.DataFrame(rows)


def by_hand(frame, a, b, seed=1, paired=True, average=True, over_seeds=True):
    """The learner's answer: (estimate, low, high, real) in points, seeds and items drawn together; unpaired,
    unaveraged or over the items alone on request."""
    runs = {m: frame[frame.method == m].set_index("seed") for m in (a, b)}
    seeds = sorted(set(runs[a].index))
    stack = {m: 100 * np.array([runs[m].loc[s, "test_correct"] for s in seeds], dtype=float) for m in (a, b)}
    if not average:
        stack = {m: v.reshape(1, -1) for m, v in stack.items()}  # (1, seeds * items): every run as items
    rng = np.random.default_rng(seed)
    n, k = stack[a].shape[1], len(stack[a])
    ia = rng.integers(0, n, size=(10_000, n))  # (resamples, items)
    ib = ia if paired else rng.integers(0, n, size=(10_000, n))
    drawn = rng.integers(0, k, size=(10_000, k)) if over_seeds else np.tile(np.arange(k), (10_000, 1))
    d = np.array([stack[a][s][:, i].mean() - stack[b][s][:, j].mean() for s, i, j in zip(drawn, ia, ib)])
    low, high = np.quantile(d, [0.025, 0.975])
    return stack[a].mean() - stack[b].mean(), low, high, bool(low > 0 or high < 0)


def fails(match, *answer, frame, a="a", b="b"):
    with pytest.raises(AssertionError, match=match) as err:
        check_gap(*answer, frame, a, b)
    return str(err.value)


def test_the_synthetic_gaps_are_what_the_tests_assume(frame):
    _, low, _, _ = seed_paired(frame, "a", "b", "test_correct", 100)
    _, lo, hi, _ = seed_paired(frame, "c", "b", "test_correct", 100)
    assert low > 1 and lo < -0.6 and hi > 0.6  # a real gap, and none, both away from the borderline


@pytest.mark.parametrize("a, b, real", [("a", "b", True), ("c", "b", False)])
def test_a_right_answer_with_another_bootstrap_seed_passes(frame, a, b, real):
    estimate, low, high, verdict = by_hand(frame, a, b, seed=7)
    assert verdict == real
    message = check_gap(estimate, low, high, verdict, frame, a, b)
    assert message.startswith("Correct:") and ("excludes 0" in message) == real


def test_a_constant_fails_and_the_hint_hides_the_numbers(frame):
    expected = seed_paired(frame, "a", "b", "test_correct", 100)
    hint = fails("mean over test items", 0.0, -1.0, 1.0, False, frame=frame)
    assert not any(f"{v:.1f}" in hint for v in expected[:3])


def test_swapped_methods_fail_with_a_sign_hint(frame):
    estimate, low, high, real = by_hand(frame, "b", "a")
    fails("sign is flipped", estimate, low, high, real, frame=frame)


def test_a_share_fails_with_a_unit_hint(frame):
    estimate, low, high, real = by_hand(frame, "a", "b")
    fails("share", estimate / 100, low / 100, high / 100, real, frame=frame)


def test_one_seed_alone_fails_with_an_averaging_hint(frame):
    one = frame[frame.seed == 0]
    runs = {m: np.array(one[one.method == m].test_correct.iloc[0], dtype=float) for m in "ab"}
    estimate = 100 * (runs["a"].mean() - runs["b"].mean())
    fails("one seed", estimate, estimate - 3, estimate + 3, True, frame=frame)


def test_an_unpaired_interval_fails_as_too_wide(frame):
    fails("too wide", *by_hand(frame, "a", "b", paired=False), frame=frame)


def test_seeds_resampled_as_items_fail_as_too_narrow(frame):
    fails("too narrow", *by_hand(frame, "a", "b", average=False), frame=frame)


@pytest.mark.parametrize("a, b", [("a", "b"), ("c", "b")])
def test_a_wrong_verdict_fails(frame, a, b):
    estimate, low, high, real = by_hand(frame, a, b)
    fails("excludes 0", estimate, low, high, not real, frame=frame, a=a, b=b)


def test_real_must_be_a_bool_and_the_bounds_in_order(frame):
    estimate, low, high, real = by_hand(frame, "a", "b")
    fails("True or False", estimate, low, high, "yes", frame=frame)
    fails("low first", estimate, high, low, real, frame=frame)


def test_a_verdict_at_the_edge_of_the_interval_accepts_either_consistent_answer(frame, monkeypatch):
    import tlcourse.checks.evidence as evidence
    monkeypatch.setattr(evidence, "seed_paired", lambda *args: (-1.4, -2.9, 0.0, 3))  # 0 at the upper end
    assert "borderline" in check_gap(-1.4, -2.9, -0.03, True, frame, "a", "b")  # another seed's draws
    assert "borderline" in check_gap(-1.4, -2.9, 0.0, False, frame, "a", "b")
    monkeypatch.setattr(evidence, "seed_paired", lambda *args: (-1.4, -2.9, -0.2, 3))  # 0 outside, near
    fails("random draws decide", -1.4, -2.9, 0.1, False, frame=frame)


def test_an_interval_over_the_items_alone_fails_where_runs_disagree():
    """Seeds that disagree (one run of "a" far weaker) make the items-only interval too narrow."""
    rng = np.random.default_rng(2)
    rows = [{"method": m, "seed": s, "test_correct": (rng.random(ITEMS) < p).astype(int).tolist()}
            for m, ps in (("a", (0.9, 0.62, 0.88)), ("b", (0.6, 0.6, 0.6))) for s, p in zip(SEEDS, ps)]
    spread = pd.DataFrame(rows)
    fails("items alone", *by_hand(spread, "a", "b", over_seeds=False), frame=spread)
    assert check_gap(*by_hand(spread, "a", "b"), spread, "a", "b").startswith("Correct:")
