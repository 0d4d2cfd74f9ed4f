"""Which method should I use? The decision explorer's logic, from measured learning curves.

    rec = recommend(Situation(labels=64, max_time_s=120, domain="near"), curve_table(folder),
                    zero_shot_answer(folder))
    rec.method, rec.accuracy, rec.why
Pure functions on the curve table (curves.curve_table) and lesson 02's zero-shot answer
(curves.zero_shot_answer, optional); `explorer` only wraps them in widgets.
"""
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..experiments.protocol import run_cost

DOMAINS = {  # how far the task's text is from the text the curves were measured on -> advice
    "same": None,
    "near": ("near domain: the curves were measured on movie reviews; a nearby domain usually costs "
             "frozen features more than fine-tuned ones, so expect the frozen probe to lose most "
             "(lesson 08 measures the drop)."),
    "far": ("far domain: these numbers, zero-shot's too, come from movie reviews: score the answer on a few "
            "labelled examples of your domain first. To train, first continue pretraining the encoder on "
            "unlabelled text of the domain (domain- or task-adaptive pretraining, lesson 08); frozen "
            "general-purpose features are the riskiest choice there."),
}


@dataclass(frozen=True)
class Situation:
    labels: int  # labelled training examples available
    max_time_s: float | None = None  # training time allowed per run on this machine; None: any
    max_memory_mb: float | None = None  # peak memory a run may add; None: any
    max_saved_mb: float | None = None  # storage per task beside the shared base model; None: any
    domain: str = "same"  # "same" | "near" | "far": distance from the measured domain
    tolerance: float = 1.0  # accuracy points within which methods tie; the cheaper one wins


@dataclass
class Recommendation:
    method: str  # what the measurements favour
    accuracy: float  # expected test accuracy % at the situation's label count (interpolated)
    time_s: float  # expected training time per run (s)
    memory_mb: float  # expected peak memory added (MB)
    saved_mb: float  # stored per task beside the base model (MB)
    why: list[str] = field(default_factory=list)  # plain-words reasons, most important first
    options: object = None  # DataFrame: every method at this label count (options_at), its cost and fits (bool)


def at_size(table, labels: int, columns=("accuracy", "std", "time_s", "memory_mb", "saved_mb", "params")):
    """Each method's `columns` at `labels`, interpolated on log(size) between measured sizes
    (clamped to the end points outside them): one row per method."""
    rows = []
    for method, curve in table.sort_values("size").groupby("method"):
        x = np.log(curve["size"].to_numpy(float))
        row = {c: float(np.interp(np.log(labels), x, curve[c].to_numpy(float))) for c in columns}
        rows.append({"method": method, **row})
    return pd.DataFrame(rows).set_index("method")


def options_at(table, labels: int, zero_shot=None):
    """Every method at `labels` (at_size) and, given lesson 02's answer (curves.ZeroShot), zero-shot as one
    more row: no training, nothing stored, its measured accuracy at any label count. Each trained method
    then also has estimate, low and high: its accuracy minus zero-shot's on the same test reviews, points,
    with the 95% interval, read off the measured sizes as the accuracy is."""
    options = at_size(table, labels)
    if zero_shot is None:
        return options
    gaps = at_size(zero_shot.gaps, labels, ("estimate", "low", "high"))
    zero = pd.DataFrame({"accuracy": zero_shot.accuracy, "std": 0.0, "time_s": 0.0, "memory_mb": zero_shot.memory_mb,
                         "saved_mb": 0.0, "params": 0.0}, index=pd.Index([zero_shot.method], name="method"))
    return pd.concat([options.join(gaps), zero])


def grid_points(frame, methods=None):
    """One row per method of a results frame (load_results): accuracy % mean and std over seeds,
    time and peak memory per run (protocol.run_cost: medians, searches left out), trainable parameters,
    saved MB."""
    rows = frame if methods is None else frame[frame.method.isin(methods)]
    g = rows.groupby("method")
    cost = pd.DataFrame({m: run_cost(r) for m, r in g}, index=["time_s", "memory_mb"]).T
    return g.agg(accuracy=("metric_accuracy", "mean"), std=("metric_accuracy", "std"),
                 params=("trainable_params", "mean"), saved_mb=("checkpoint_size_mb", "mean"),
                 seeds=("seed", "nunique")).join(cost).assign(accuracy=lambda d: d.accuracy * 100,
                                                              std=lambda d: d["std"].fillna(0) * 100,
                                                              params=lambda d: d.params.round().astype(int))


def pareto_front(points, cost: str, value: str = "accuracy") -> list[str]:
    """The rows (index) no other row beats: none costs as little or less and scores as well or better,
    with one of the two strictly. Sorted by cost."""
    front = []
    for name, p in points.iterrows():
        better = (points[cost] <= p[cost]) & (points[value] >= p[value]) & (
            (points[cost] < p[cost]) | (points[value] > p[value]))
        if not better.any():
            front.append(name)
    return sorted(front, key=lambda n: points.loc[n, cost])


def _fits(options, s: Situation):
    limits = {"time_s": s.max_time_s, "memory_mb": s.max_memory_mb, "saved_mb": s.max_saved_mb}
    ok = np.ones(len(options), bool)
    for col, limit in limits.items():
        if limit is not None:
            ok &= options[col].to_numpy() <= limit
    return ok


def _check(s: Situation, table):
    if table is None or len(table) == 0:
        raise ValueError("no measurements: the curve table is empty. Run the learning-curve grid "
                         "(`tlcourse results --curves --run`, or lesson 09) first.")
    if s.domain not in DOMAINS:
        raise ValueError(f"domain {s.domain!r}: use one of {', '.join(DOMAINS)}")
    if s.labels < 1:
        raise ValueError("labels must be at least 1: with no labels, only zero-shot is left (lesson 02)")


def recommend(s: Situation, table, zero_shot=None) -> Recommendation:
    """The method the measurements favour in situation `s`, its expected accuracy and cost, and why.

    Among the options within the budget, the most accurate wins; options within `tolerance` points of
    it tie, and the tie goes to the fastest. Given lesson 02's zero-shot answer (curves.ZeroShot), it is
    an option too, and the fastest (it trains nothing): a trained method stays in only while its interval
    against zero-shot lies above 0, so where none is told apart from zero-shot as better, the answer is
    not to train. When nothing is left, the fastest method is named."""
    _check(s, table)
    options = options_at(table, s.labels, zero_shot).assign(fits=lambda o: _fits(o, s))
    left = _eligible(options, zero_shot)
    if left.empty:
        pick = options.time_s.idxmin()
        why = [_nothing_left(options, pick)]
    else:
        best = left.accuracy.idxmax()
        tied = left[left.accuracy >= left.accuracy[best] - s.tolerance]
        pick = tied.sort_values(["time_s", "memory_mb"]).index[0]
        why = [_reason(options, pick, best, s, zero_shot)] + _excluded(options, pick)
        why += _against_zero_shot(options, pick, left, zero_shot)
    why += _range_note(table, s.labels) + ([DOMAINS[s.domain]] if DOMAINS[s.domain] else [])
    r = options.loc[pick]
    return Recommendation(pick, r.accuracy, r.time_s, r.memory_mb, r.saved_mb, why, options)


def _eligible(options, zero_shot):
    """The options within the budget that recommend may pick. Never a trained method whose interval
    against zero-shot lies below 0; while zero-shot fits the budget, only those whose interval lies above 0."""
    fitting = options[options.fits]
    if zero_shot is None:
        return fitting
    clears = fitting.low > 0 if zero_shot.method in fitting.index else fitting.high >= 0
    return fitting[clears | (fitting.index == zero_shot.method)]


def _nothing_left(options, pick) -> str:
    what = ("nothing that fits the budget is told apart from zero-shot as better, and zero-shot itself does not fit"
            if options.fits.any() else "nothing fits the budget")
    return (f"{what}; the cheapest measured method is {pick} "
            f"({options.time_s[pick]:.0f} s, {options.memory_mb[pick]:.0f} MB).")


def _reason(options, pick, best, s, zero_shot) -> str:
    p, b = options.loc[pick], options.loc[best]
    if zero_shot is not None and pick == zero_shot.method:
        return _dont_train(options, best, s, zero_shot)
    if pick == best:
        others = options[options.fits].drop(index=pick)
        nxt = f"; next {others.accuracy.idxmax()} {others.accuracy.max():.1f}%" if len(others) else ""
        return f"at {s.labels} labels, {pick} is the most accurate method that fits ({p.accuracy:.1f}%{nxt})."
    ratio = b.time_s / max(p.time_s, 1e-9)
    return (f"at {s.labels} labels, {pick} ({p.accuracy:.1f}%) is within {s.tolerance:g} point(s) of "
            f"the most accurate, {best} ({b.accuracy:.1f}%), at 1/{ratio:.0f} of the time."
            if ratio >= 1.5 else
            f"at {s.labels} labels, {pick} ({p.accuracy:.1f}%) ties with {best} ({b.accuracy:.1f}%) "
            f"within {s.tolerance:g} point(s), and is the faster of the two.")


def _dont_train(options, best, s, zero_shot) -> str:
    z = options.loc[zero_shot.method]
    answer = (f"{zero_shot.method} (lesson 02's prompted {zero_shot.model}, no labels, no training) reaches "
              f"{z.accuracy:.1f}%; scoring the {zero_shot.test_size} test reviews took {zero_shot.time_s:.0f} s")
    if best == zero_shot.method:
        return (f"don't train: at {s.labels} labels no trained method that fits is told apart from zero-shot "
                f"as better. {answer}.")
    return (f"don't train: at {s.labels} labels {best} ({options.accuracy[best]:.1f}%) is within {s.tolerance:g} "
            f"point(s) of zero-shot, which needs no training. {answer}.")


def _gap(r) -> str:
    return f"{r.estimate:+.1f} points against zero-shot (95% interval {r.low:+.1f} to {r.high:+.1f})"


def _against_zero_shot(options, pick, left, zero_shot) -> list[str]:
    """The pick's gap to zero-shot on the same test reviews, and one line per method within the budget that
    zero-shot rules out."""
    if zero_shot is None:
        return []
    lines = [] if pick == zero_shot.method else [f"{pick} is {_gap(options.loc[pick])}: told apart as better."]
    out = options[options.fits & ~options.index.isin(left.index)]
    return lines + [f"{m} ({r.accuracy:.1f}%) is {_gap(r)}: {'below it' if r.high < 0 else 'not told apart from it'}."
                    for m, r in out.iterrows()]


def _excluded(options, pick) -> list[str]:
    """One line per method more accurate than the pick that the budget rules out."""
    better = options[~options.fits & (options.accuracy > options.accuracy[pick])]
    return [f"{m} would reach {r.accuracy:.1f}% but needs {r.time_s:.0f} s and {r.memory_mb:.0f} MB "
            f"(and {r.saved_mb:.3g} MB per task): over the budget." for m, r in better.iterrows()]


def _range_note(table, labels) -> list[str]:
    lo, hi = table["size"].min(), table["size"].max()
    if labels > hi:
        return [f"measured up to {hi} labels only: the numbers are those at {hi}; methods that train "
                "more weights usually gain most from more data."]
    if labels < lo:
        return [f"fewer labels than the smallest measured ({lo}): the numbers are those at {lo}; "
                "expect more spread from seed to seed."]
    return []


def situation(values: dict, maxima: dict) -> Situation:
    """The Situation the explorer's controls describe: a budget slider at its right end means no
    limit (a browser snaps a log slider's value, so the end, not a measured cost, is the default)."""
    return Situation(**{k: None if k in maxima and v >= maxima[k] * (1 - 1e-6) else v
                        for k, v in values.items()})


def explorer(table, zero_shot=None):
    """Sliders for labels and the time, memory and storage budgets, a domain menu; prints
    recommend()'s answer (zero-shot among the options when lesson 02's answer is given).
    Each budget slider starts at its right end: no limit."""
    import ipywidgets as w
    sizes = sorted(set(table["size"]))

    def budget(col, label):  # log slider from a tenth of the cheapest to ten times the dearest
        lo, hi = np.log10(max(table[col].min(), 1e-3)) - 1, np.log10(max(table[col].max(), 1e-3)) + 1
        return w.FloatLogSlider(value=10 ** hi, base=10, min=lo, max=hi, description=label)

    controls = {
        "labels": w.IntSlider(value=sizes[len(sizes) // 2], min=1, max=4 * sizes[-1], description="labels"),
        "max_time_s": budget("time_s", "time s"),
        "max_memory_mb": budget("memory_mb", "memory MB"),
        "max_saved_mb": budget("saved_mb", "saved MB"),
        "domain": w.Dropdown(options=list(DOMAINS), value="same", description="domain"),
    }
    maxima = {k: 10 ** c.max for k, c in controls.items() if isinstance(c, w.FloatLogSlider)}

    def show(**values):
        rec = recommend(situation(values, maxima), table, zero_shot)
        print(f"-> {rec.method}: expected {rec.accuracy:.1f}% accuracy, {rec.time_s:.0f} s training, "
              f"{rec.memory_mb:.0f} MB peak, {rec.saved_mb:.3g} MB saved per task")
        for line in rec.why:
            print(" -", line)

    out = w.interactive_output(show, controls)
    boxes = list(controls.values())
    note = w.HTML("A budget slider at its right end means no limit.")
    return w.VBox([w.HBox(boxes[:3]), w.HBox(boxes[3:]), note, out])
