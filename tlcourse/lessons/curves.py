"""Learning curves: test accuracy against the number of labelled examples, per method.

    run_curves()                          # sizes x methods x seeds of the profile; skips existing files
    table = curve_table(RESULTS / "cpu")  # method x size -> accuracy mean ± std over seeds, and cost
    crossing(table, "full", "probe")      # first size at which full fine-tuning >= the probe
    zero = zero_shot_answer(RESULTS / "cpu")  # lesson 02's no-training answer (zero_shot.run_chosen), every point against it
    CurveConfig(data="my.csv", text_column="review", label_column="verdict")  # a learner's data
The largest point of every curve is the method grid itself (`make results`: the profile's
train_size, untagged files); smaller sizes are tagged "n<size>", e.g. probe-n16__….json.
Every size trains under the same step budget as the largest and is scored on the same fixed
validation set at the same steps, early-stopping there: data size is not confounded with epochs.
Each method uses the rate chosen on validation at the largest size, except those in
CurveConfig.per_size (the probe), whose setting is chosen on validation at every size.
"""
import math
from dataclasses import dataclass

import pandas as pd

from ..engine.config import get_profile
from ..engine.data import data_hash, data_name, load_splits, training_pool_size
from ..engine.records import format_mean_std, load_results
from ..experiments.method_grid import run_grid
from ..experiments.protocol import run_cost, seed_paired, VERSION

BASELINES = ("zeroshot", "fewshot")  # method-name prefixes of lesson 02's result files
COLUMNS = ["method", "size", "accuracy", "std", "seeds", "time_s", "memory_mb", "saved_mb", "params"]
ZERO_SHOT = "zeroshot-lm"  # the no-training answer (zero_shot.run_chosen): lesson 02's prompted SmolLM2, its prompt format chosen on
# validation. The other baselines keep no validation score to be chosen by, and choosing among them on test
# would let the test reviews pick the bar that every trained method is then held to.


@dataclass(frozen=True)
class CurveConfig:
    methods: tuple[str, ...] = ("probe", "last2", "full", "lora")  # frozen, partial, full, PEFT
    per_size: tuple[str, ...] = ("probe",)  # chosen on validation at every size: the probe's C (its
    # regularisation) depends on how many examples there are, and its search costs seconds
    smallest: int = 16  # the smallest labelled set
    factor: int = 4  # each size is this many times the one before, up to the profile's train_size
    data: object = "rotten_tomatoes"  # the task: course dataset name, table file path or DatasetDict
    model: str = "minilm-l6"  # the encoder
    text_column: str = "text"  # the file's or DatasetDict's text column (course data: "text")
    label_column: str = "label"  # the file's or DatasetDict's label column (course data: "label")

    def splits(self):
        """The task's train and test splits with text/label (data.load_splits)."""
        return load_splits(self.data, self.text_column, self.label_column)


def full_size(profile, config: CurveConfig = CurveConfig()) -> int:
    """The profile's train_size, or every training row outside validation when that is fewer."""
    available = training_pool_size(config.splits(), profile)
    return min(profile.train_size, available) if profile.train_size else available


def sizes(profile=None, config: CurveConfig = CurveConfig()) -> list[int]:
    """smallest, smallest*factor, ... below the full size; the full size (the method grid) last."""
    profile = profile or get_profile()
    top, out = full_size(profile, config), []
    while (config.smallest * config.factor ** len(out)) < top:
        out.append(config.smallest * config.factor ** len(out))
    return out + [top]


def step_budget(profile, config: CurveConfig = CurveConfig()) -> int:
    """Optimiser steps every size may train: the full-size run's epochs x steps per epoch (one process)."""
    return profile.epochs * math.ceil(full_size(profile, config) / profile.batch_size)


def run_curves(config: CurveConfig = CurveConfig(), seeds=None, out_dir=None,
               skip_existing: bool = True, profile=None) -> list[dict]:
    """The method grid first (it chooses each method's rate on validation), then every smaller
    size x method x seed at that rate; existing result files are read, not rerun."""
    profile = profile or get_profile()
    *small, top = sizes(profile, config)
    fields = dict(seeds=seeds, out_dir=out_dir, skip_existing=skip_existing, profile=profile, data=config.data,
                  model=config.model, text_column=config.text_column, label_column=config.label_column)
    records = run_grid(config.methods, **fields)  # the top point
    rates = {r["method"]: r["lr"] for r in records}
    for n in small:
        for method in config.methods:
            rate = {} if method in config.per_size else {"lr": rates[method]}
            records += run_grid([method], train_size=n, max_steps=step_budget(profile, config),
                                evaluations=profile.epochs, tag=f"n{n}", **rate, **fields)
    return records


def curve_rows(frame, config: CurveConfig = CurveConfig()):
    """Result rows of the curve methods on the config's data as it is now, made under the current
    protocol (files that record another data hash or protocol are left out), with the base method
    name ("probe-n16" -> "probe")."""
    name = data_name(config.data, config.text_column, config.label_column)
    base = frame.method.str.extract(r"^([a-z0-9]+)(?:-n\d+)?$", expand=False)
    keep = base.isin(config.methods) & (frame.data == name) & (frame.model == config.model)
    keep &= frame.get("data_hash", pd.Series(index=frame.index, dtype=object)) == data_hash(config.splits())
    version = frame.get("protocol", pd.Series(index=frame.index, dtype=object)).map(
        lambda p: p.get("version") if isinstance(p, dict) else None)
    keep &= version == VERSION
    return frame[keep].assign(method=base[keep], size=frame.train_size[keep].astype(int))


def curve_table(folder, config: CurveConfig = CurveConfig()):
    """One row per method and size: accuracy % (mean, std over seeds), seeds, and mean cost."""
    frame = load_results(folder)
    if frame.empty or "train_size" not in frame:
        return pd.DataFrame(columns=COLUMNS)
    rows = curve_rows(frame, config)
    g = rows.groupby(["method", "size"])
    cost = pd.DataFrame([run_cost(r) for _, r in g], columns=["time_s", "memory_mb"],
                        index=pd.MultiIndex.from_tuples([key for key, _ in g], names=["method", "size"]))  # medians
    table = pd.DataFrame({"accuracy": g.metric_accuracy.mean() * 100,
                          "std": g.metric_accuracy.std().fillna(0.0) * 100,  # one seed: no spread
                          "seeds": g.seed.nunique(), "time_s": cost.time_s, "memory_mb": cost.memory_mb,
                          "saved_mb": g.checkpoint_size_mb.mean(), "params": g.trainable_params.mean()})
    return table.reset_index()[COLUMNS]


def curve_summary(table):
    """Method x labelled examples -> "accuracy ± std (seeds)", for the README and the lesson."""
    cells = table.assign(cell=[f"{format_mean_std(a, s, 1)} ({n})" for a, s, n in
                               zip(table.accuracy, table["std"], table.seeds)])
    wide = cells.pivot(index="method", columns="size", values="cell").fillna("—")
    wide.columns = [f"{c} labels" for c in wide.columns]
    return wide.reset_index()


def crossing(table, a: str, b: str) -> int | None:
    """The first size, among those measured for both, at which method a's mean >= method b's."""
    acc = table.pivot(index="size", columns="method", values="accuracy")[[a, b]].dropna()
    ahead = acc.index[acc[a] >= acc[b]]
    return int(ahead[0]) if len(ahead) else None


def lead_changes(table, a: str, b: str) -> list[tuple[int, int]]:
    """Neighbouring measured sizes (before, after) between which the lead of a over b changes hands."""
    acc = table.pivot(index="size", columns="method", values="accuracy")[[a, b]].dropna()
    ahead = acc[a] >= acc[b]
    return [(int(p), int(n)) for p, n in zip(acc.index[:-1], acc.index[1:]) if ahead[p] != ahead[n]]


def describe_crossing(table, a: str, b: str) -> str:
    """Where curve a meets curve b, in one plain sentence computed from the table: every change of lead."""
    acc = table.pivot(index="size", columns="method", values="accuracy")[[a, b]].dropna()
    std = table.pivot(index="size", columns="method", values="std")[[a, b]].loc[acc.index]
    if acc.empty:
        return f"{a} and {b} share no measured size."
    gap = acc[a] - acc[b]
    noise = " (within the seeds' spread)" if abs(gap.iloc[-1]) <= std.iloc[-1].max() else ""
    lo, hi = acc.index[0], acc.index[-1]
    if lo == hi:
        return f"{a} and {b} share one measured size, {lo}: {gap.iloc[0]:+.1f} points{noise}; no curve to cross yet."
    points = ", ".join(f"{n}: {g:+.1f}" for n, g in gap.items())
    changes = lead_changes(table, a, b)
    if not changes:
        side = "at least as accurate as" if gap.iloc[0] >= 0 else "below"
        return (f"{a} is {side} {b} at every size from {lo} to {hi} labels: no crossing at our scale "
                f"({a} - {b} in points by labels: {points}{noise}).")
    where = "; ".join(f"between {p} and {n} labels {a if gap[n] >= 0 else b} takes the lead"
                      for p, n in changes)
    return (f"the lead changes {len(changes)} time(s): {where} "
            f"({a} - {b} in points by labels: {points}{noise}).")


def baselines(folder, data: str = "rotten_tomatoes"):
    """Lesson 02's zero- and few-shot results on `data`: method, model, labels, accuracy % mean, std, seeds."""
    frame = load_results(folder)
    cols = ["method", "model", "labels", "accuracy", "std", "seeds"]
    if frame.empty or "metric_accuracy" not in frame:
        return pd.DataFrame(columns=cols)
    rows = frame[frame.method.str.startswith(BASELINES) & (frame.data == data)]
    rows = rows.assign(labels=rows.get("train_size", 0)).fillna({"labels": 0})
    g = rows.groupby(["method", "model", "labels"])
    out = pd.DataFrame({"accuracy": g.metric_accuracy.mean() * 100,
                        "std": g.metric_accuracy.std().fillna(0.0) * 100, "seeds": g.seed.nunique()})
    return out.reset_index()[cols]


@dataclass(frozen=True)
class ZeroShot:
    """Lesson 02's zero-shot answer on the curves' task, and every curve point against it."""
    method: str  # its result files' method name
    model: str
    accuracy: float  # test accuracy %, mean over its seeds
    time_s: float  # scoring the test reviews once: it trains nothing
    memory_mb: float  # peak memory while scoring
    test_size: int  # the test reviews it shares with the curves
    gaps: pd.DataFrame  # method, size, estimate, low, high: curve point - zero-shot in points on the same
    # test reviews, with its 95% interval over seeds and reviews (protocol.seed_paired)


def zero_shot_answer(folder, config: CurveConfig = CurveConfig()) -> ZeroShot | None:
    """ZERO_SHOT's results on the config's data, each curve point paired with them on the same test items;
    None when either is missing under the current protocol. Both draw their test items the same way (the
    test split's first eval_size after a seed-0 shuffle, data.take), so the same eval_size on the same
    data means the same reviews in the same order; a zero-shot file of another eval_size is left out."""
    frame = load_results(folder)
    points = curve_rows(frame, config) if "train_size" in frame else frame.iloc[:0]
    zero = _zero_shot_rows(frame, config, points)
    if zero.empty:
        return None
    gaps = [(method, size, *seed_paired(pd.concat([runs, zero]), method, ZERO_SHOT, "test_correct", 100.0)[:3])
            for (method, size), runs in points.groupby(["method", "size"])]
    return ZeroShot(ZERO_SHOT, zero.model.iloc[0], 100 * zero.metric_accuracy.mean(), zero.wall_time_s.mean(),
                    zero.peak_memory_mb.max(), int(zero.test_size.iloc[0]),
                    pd.DataFrame(gaps, columns=["method", "size", "estimate", "low", "high"]))


def _zero_shot_rows(frame, config, points):
    """ZERO_SHOT's rows on the config's data under the current protocol, on the curve points' test items."""
    if points.empty:
        return points
    name = data_name(config.data, config.text_column, config.label_column)
    eval_size = {p["eval_size"] for p in points.protocol}
    same = frame.protocol.map(lambda p: isinstance(p, dict) and p.get("version") == VERSION
                              and {p.get("eval_size")} == eval_size)
    return frame[(frame.method == ZERO_SHOT) & (frame.data == name) & same]
