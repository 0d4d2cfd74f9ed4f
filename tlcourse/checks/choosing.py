"""Exercise checks for lesson 09 (choosing the approach)."""
import math

import numpy as np

from ..lessons.choosing import at_size, pareto_front
from ..lessons.curves import crossing
from .feedback import correct


def check_interpolated(value, table, method: str, labels: int) -> str:
    """`value` should be method's accuracy % at `labels`, interpolated linearly in log(size)."""
    expected = at_size(table, labels).loc[method, "accuracy"]
    curve = table[table.method == method].sort_values("size")
    linear = float(np.interp(labels, curve["size"], curve.accuracy))
    if math.isclose(value, expected, abs_tol=0.01):
        return correct(f"{method} at {labels} labels: {expected:.2f}% (read between the measured sizes "
                       "on a log scale, as the plot draws them)")
    if math.isclose(value, expected / 100, abs_tol=1e-4):
        raise AssertionError("That is a share (0..1); the table's accuracy is in percent: keep it in %.")
    if math.isclose(value, linear, abs_tol=0.01) and not math.isclose(linear, expected, abs_tol=0.01):
        raise AssertionError("You interpolated on the raw sizes; the sizes grow by a factor each step, "
                             "so interpolate on their logarithm: np.interp(np.log(labels), np.log(sizes), acc).")
    raise AssertionError(f"Expected {expected:.2f}, got {value}: take the {method} rows sorted by size and "
                         "interpolate accuracy at log(labels) between log(size) points.")


def check_pareto(methods, points, cost: str) -> str:
    """`methods` should be the Pareto-optimal methods for `cost` (any order)."""
    expected, given = pareto_front(points, cost), set(methods)
    if given == set(expected):
        return correct(f"on {cost}, {', '.join(expected)}: each is the most accurate for what it costs")
    dominated = {m: next(o for o in points.index if o != m and points.loc[o, cost] <= points.loc[m, cost]
                         and points.loc[o, "accuracy"] >= points.loc[m, "accuracy"])
                 for m in given - set(expected) if m in points.index}
    if dominated:
        m, o = next(iter(dominated.items()))
        raise AssertionError(f"{m} is not on the front: {o} costs no more and is at least as accurate.")
    missing = sorted(set(expected) - given)
    raise AssertionError(f"Missing {missing}: no other method is both cheaper and more accurate than them. "
                         "A method is on the front unless another beats it on both axes.")


def check_crossing(size, table, a: str, b: str) -> str:
    """`size` should be the first measured size at which a's mean accuracy >= b's (None if never)."""
    expected = crossing(table, a, b)
    if size == expected:
        return correct(f"{a} first reaches {b} at {expected} labels" if expected is not None
                       else f"{a} never reaches {b} at the sizes measured")
    if size is not None and size == crossing(table, b, a):
        raise AssertionError(f"That is where {b} reaches {a}: compare {a} >= {b}, in that order.")
    if expected is None:
        raise AssertionError(f"{a} is below {b} at every measured size: the answer is None.")
    raise AssertionError(f"Expected {expected}, got {size}: walk the sizes from smallest to largest and "
                         f"stop at the first where {a}'s mean accuracy >= {b}'s.")
