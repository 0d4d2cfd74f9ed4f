"""The protocol every lesson's experiments follow, written once.

    choice = search("lora", (1e-3, 3e-3), validate, folder, asked, score=Score("val_accuracy", higher=True))
    choice.value, choice.candidates           # the setting chosen on validation at the first seed
    record = stored(path, asked)              # a result file, only while it stands for the run asked now
    mean, low, high = paired_bootstrap(a, b)  # paired difference on the same test items, 95% interval
    mean, low, high = paired_bootstrap(a, b, over_seeds=True)  # (seeds, items): runs and items resampled
Settings are chosen on validation at the first seed, never on test; every candidate's validation
record is kept (resumable), the winner's first-seed run is reused, not trained again, and later
seeds take the chosen value directly. A stored result is reused only while everything it was made
from is unchanged: what `asked` names (experiment fields, sizes, protocol version, data hash, and
upstream artefacts such as a teacher, an adapted encoder, a judge or preference pairs).
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine.records import write_json

SEARCH_TIME = "search_time_s"  # result field: the seconds the method's rate search took, apart from the run
SEARCH_IN_COST = "cost_includes_search"  # result field: True when the run's time and memory enclose its search
ONE_SEED = "one seed: training noise not measured"  # said beside every difference a single run gives
VERSION = 2  # 1: fixed epochs, test reshuffled per seed; 2: validation, early stopping, fixed test


@dataclass(frozen=True)
class Score:
    key: str  # the validation record's field the search compares ("val_accuracy", "metrics.val_loss", ...)
    higher: bool  # True: larger is better (accuracy); False: smaller is better (a loss)

    def of(self, record: dict) -> float:
        """The score in a record; a dotted key reads a nested field."""
        for part in self.key.split("."):
            record = record[part]
        return record

    def better(self, a: dict, b: dict | None) -> bool:
        """Whether record a beats record b (ties keep b, the earlier candidate)."""
        if b is None:
            return True
        return self.of(a) > self.of(b) if self.higher else self.of(a) < self.of(b)


ACCURACY = Score("val_accuracy", higher=True)
LOSS = Score("val_loss", higher=False)


@dataclass
class Choice:
    value: object  # the chosen candidate
    candidates: list = field(default_factory=list)  # [{"value": candidate, <score key>: ..., ...}] in grid order
    winner: tuple | None = None  # (record, kept) as validate() returned them for the winner, when trained in this call
    seconds: float = 0.0  # the search's own time: every candidate's training and validation
    trained_here: bool = False  # this call trained a candidate: a run timed around it encloses the search


def differences(record: dict, asked: dict) -> list[str]:
    """The names in `asked` whose stored value differs from the one asked now. Which seeds a profile runs
    is left out: one seed's run does not depend on how many others there are, so adding seeds keeps them."""
    return [k for k, v in asked.items() if _plain(record.get(k)) != _plain(v)]


def _plain(value):
    """A value as a JSON file gives it back (tuples become lists), so stored and asked compare equal;
    lists of seeds (a sizes field named "seeds" or "..._seeds") dropped."""
    def drop_seeds(v):
        if isinstance(v, dict):
            return {k: drop_seeds(x) for k, x in v.items() if not (k == "seeds" or k.endswith("_seeds"))}
        return [drop_seeds(x) for x in v] if isinstance(v, list) else v
    return drop_seeds(json.loads(json.dumps(value, default=str)))


def stored(path, asked: dict) -> dict | None:
    """The record at `path` when it stands for the run asked now; None when it is missing or was made
    from something else (then one line says what changed, and the caller reruns it)."""
    path = Path(path)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    changed = differences(record, asked)
    if changed:
        names = ", ".join(changed).replace("_", " ")
        tqdm.write(f"{path.name}: rerunning, since this run asks for another {names}")
        return None
    return record


def search(name: str, candidates, validate, folder, asked, score: Score = ACCURACY,
           label=lambda v: f"lr{v:g}", describe=None) -> Choice:
    """Choose among `candidates` on validation at the first seed.

    validate(value) -> (record, kept): trains one candidate and returns its validation record (a
    dict holding score.key) and anything the caller needs to finish the winner's run without
    training it again (a model, a test scorer). asked(value) -> the provenance a stored candidate
    must match. Each candidate's record is kept at folder/sweep/<name>__<label(value)>.json; a
    current one is read instead of trained. describe(value, record) -> the candidate's row in
    Choice.candidates (default: {"value", <score key>})."""
    describe = describe or (lambda v, r: {"value": v, score.key: score.of(r)})
    best, rows, seconds, trained = None, [], 0.0, False
    for value in tqdm(candidates, desc=f"{name}: choosing on validation", leave=False):
        path, provenance = Path(folder) / "sweep" / f"{name}__{label(value)}.json", asked(value)
        record, kept = stored(path, provenance), None
        if record is None:
            start = time.perf_counter()
            record, kept = validate(value)
            record, trained = record | {SEARCH_TIME: time.perf_counter() - start}, True
            write_json(path, record | provenance)
        seconds += _seconds(record)
        rows.append(describe(value, record))
        if score.better(record, best and best[1]):
            best = (value, record, kept)
    return Choice(best[0], rows, best[1:] if best[2] is not None else None, seconds, trained)


def widening_search(name: str, grid, validate, folder, asked, score: Score = ACCURACY, label=lambda v: f"lr{v:g}",
                    describe=None, factor: float = 3.0, most: int = 2) -> Choice:
    """search() over `grid`, widened while the winner sits on its edge: the next value beyond that edge
    (times or divided by `factor`) joins the grid, at most `most` times, so a chosen rate lies inside the
    values tried unless the widening ran out (Choice.candidates then shows it on the edge). A winner
    trained in an earlier round is still handed back (Choice.winner)."""
    grid, kept = sorted(grid), {}

    def remembered(value):
        record, kept[value] = validate(value)
        return record, kept[value]

    for _ in range(most + 1):
        choice = search(name, grid, remembered, folder, asked, score, label, describe)
        edge = grid_position(choice.value, grid)
        if edge == "inside its grid" or len(grid) < 2:
            break
        grid = ([float(f"{grid[0] / factor:.3g}")] + grid if edge == "the bottom of its grid"
                else grid + [float(f"{grid[-1] * factor:.3g}")])
    if choice.winner is None and choice.value in kept:
        record = json.loads((Path(folder) / "sweep" / f"{name}__{label(choice.value)}.json").read_text())
        choice.winner = (record, kept[choice.value])
    choice.trained_here = bool(kept)
    return choice


def _seconds(record: dict) -> float:
    """A candidate's own time: as search() measured it, else as its lesson recorded it (older records);
    NaN when neither was recorded, so a search's total is never undercounted."""
    return next((record[k] for k in (SEARCH_TIME, "wall_time_s", "train_time_s") if record.get(k) is not None),
                float("nan"))


def search_fields(choice: Choice) -> dict:
    """What a run's result file records of its rate search: the search's own seconds, and whether the run's
    time and memory enclose it (the search trained in this call)."""
    return {SEARCH_TIME: choice.seconds, SEARCH_IN_COST: choice.trained_here}


def run_cost(rows) -> tuple[float, float]:
    """A method's cost per run from its result rows: (median wall time s, median peak memory MB) over the
    runs whose time and memory exclude the rate search (Choice.trained_here); NaN where every run includes it."""
    clean = rows[~rows[SEARCH_IN_COST].fillna(False).astype(bool)] if SEARCH_IN_COST in rows else rows
    return float(clean.wall_time_s.median()), float(clean.peak_memory_mb.median())


def cost_columns(rows, fmt: str = ".0f") -> dict:
    """A table's cost columns for one method's rows: time and peak memory per run without the search
    (run_cost, medians over seeds), and the search's own time ("—" where there was none)."""
    seconds, mb = run_cost(rows)
    search = search_cost(rows)
    show = lambda v: "—" if v != v else f"{v:{fmt}}"  # NaN: nothing to show
    return {"time s": show(seconds), "peak MB": show(mb), "search s": show(search)}


def search_cost(rows) -> float:
    """The seconds a method's rate search took (as its result files record it), or NaN."""
    times = rows[SEARCH_TIME].dropna() if SEARCH_TIME in rows else []
    return float(times.iloc[0]) if len(times) else float("nan")


def grid_position(value, grid) -> str:
    """Where a chosen value sits in the grid it was chosen from: a choice on an edge may lie beyond it."""
    grid = sorted(grid)
    if len(grid) > 1 and value == grid[-1]:
        return "the top of its grid"
    if len(grid) > 1 and value == grid[0]:
        return "the bottom of its grid"
    return "inside its grid"


def paired_bootstrap(a, b, statistic=None, level: float = 0.95, resamples: int = 10_000, seed: int = 0,
                     over_seeds: bool = False):
    """The course's one paired comparison: statistic(a) - statistic(b) on the same test items, and its
    percentile bootstrap interval.

    a, b: per-item scores on the same items in the same order, (items, ...); with over_seeds, one such
    array per training run, (seeds, items, ...). Then both sources of noise are resampled at once, the
    runs and the items (a two-way, "pigeonhole" bootstrap of a seeds x items table: Owen 2007, Ann.
    Appl. Stat. 1(2)): each resample draws seeds and items with replacement, averages each drawn item's
    score over the drawn seeds, and takes the statistic. Seeds are paired when both sides ran the same
    number (the same draws for a and b), else drawn for each side alone (a side run once keeps its one
    run). Items always take the same draws for a and b; they are drawn first, so when every seed gives
    the same scores the interval is the item bootstrap's. statistic maps items as (resamples, items, ...)
    to (resamples,); default: the mean over items. Returns (estimate, low, high) in the scores' unit."""
    statistic = statistic or (lambda x: x.mean(1))
    a, b = (np.asarray(x, dtype=float) if over_seeds else np.asarray(x, dtype=float)[None] for x in (a, b))
    rng = np.random.default_rng(seed)
    items = rng.integers(0, a.shape[1], size=(resamples, a.shape[1]))  # (resamples, items)
    weights_a = _seed_weights(rng, resamples, len(a))  # (resamples, seeds of a)
    weights_b = weights_a if len(b) == len(a) else _seed_weights(rng, resamples, len(b))
    d = np.concatenate([statistic(_drawn(a, weights_a[c], items[c])) - statistic(_drawn(b, weights_b[c], items[c]))
                        for c in np.array_split(np.arange(resamples), max(1, resamples // 500))])  # (resamples,)
    low, high = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return float((statistic(a.mean(0)[None]) - statistic(b.mean(0)[None]))[0]), float(low), float(high)


def _seed_weights(rng, resamples: int, seeds: int) -> np.ndarray:
    """How often each seed is drawn in each resample, as a share: (resamples, seeds), rows summing to 1."""
    if seeds == 1:
        return np.ones((resamples, 1))
    drawn = rng.integers(0, seeds, size=(resamples, seeds))
    return np.stack([(drawn == s).mean(1) for s in range(seeds)], 1)


def _drawn(x, weights, items) -> np.ndarray:
    """x (seeds, items, ...) at the drawn items, averaged over the drawn seeds: (resamples, items, ...)."""
    picked = x[:, items]  # (seeds, resamples, items, ...)
    return np.einsum("sr...,rs->r...", picked, weights)


def per_seed(a, b, statistic=None) -> list[float]:
    """statistic(a) - statistic(b) of each seed alone, a and b (seeds, items, ...); a side run once is set
    against every seed of the other. The spread a verdict's interval over seeds and items summarises."""
    statistic = statistic or (lambda x: x.mean(1))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = max(len(a), len(b))
    return [float((statistic(a[i % len(a)][None]) - statistic(b[i % len(b)][None]))[0]) for i in range(n)]


def seeds_needed(per_seed_differences, line: float = 0.0, level: float = 0.95, most: int = 30) -> int | None:
    """A pilot's answer to "how many seeds would tell this difference from `line`?": the fewest seeds n
    for which a t-interval over n per-seed differences, with the pilot's mean and spread, would clear the
    line; None beyond `most` (or with no spread to go on). A plan, not a verdict: the verdict is still read
    from the runs' own interval once they exist."""
    from scipy.stats import t

    d = np.asarray(per_seed_differences, dtype=float)
    gap, sd = abs(d.mean() - line), d.std(ddof=1)
    if len(d) < 2 or not sd > 0:
        return None
    return next((n for n in range(2, most + 1) if t.ppf((1 + level) / 2, n - 1) * sd / np.sqrt(n) < gap), None)


def seed_scores(runs, column: str, seeds) -> np.ndarray:
    """Per-item scores (`column`: one list per result file) of each of `seeds`: (seeds, items).
    runs: result rows of one method indexed by seed."""
    return np.array([np.asarray(runs.loc[s, column], dtype=float) for s in seeds])


@dataclass(frozen=True)
class Paired:
    """A paired difference a - b over seeds and items, as every lesson reports it."""
    estimate: float  # mean over items of a - b, each item averaged over the seeds
    low: float  # 95% interval, seeds and items resampled (paired_bootstrap, over_seeds)
    high: float
    seeds: int  # how many seeds both ran; 1: training noise not measured
    per_seed: tuple = ()  # the difference of each seed alone

    def __iter__(self):  # (estimate, low, high, seeds), as the course's callers unpack it
        return iter((self.estimate, self.low, self.high, self.seeds))

    def __getitem__(self, i):
        return tuple(self)[i]

    def spread(self, fmt: str = "+.1f") -> str:
        """The per-seed differences in words, or that training noise was not measured."""
        if self.seeds < 2:
            return ONE_SEED
        return "per seed " + " / ".join(f"{d:{fmt}}" for d in self.per_seed)


def paired(a, b, statistic=None, **bootstrap) -> Paired:
    """statistic(a) - statistic(b), a and b (seeds, items, ...), as a Paired: the interval over seeds and items
    (paired_bootstrap, over_seeds; `bootstrap`: its level, resamples, seed) and each seed's own difference."""
    estimate = paired_bootstrap(a, b, statistic, over_seeds=True, **bootstrap)
    return Paired(*estimate, max(len(a), len(b)), tuple(per_seed(a, b, statistic)))


def seed_paired(frame, a: str, b: str, column: str, scale: float = 1.0) -> Paired:
    """Method a minus method b on the same test items, seeds and items resampled together
    (paired_bootstrap, over_seeds), in the column's unit times `scale`: over the seeds both ran, or, when
    one side was run once (a teacher, a zero-shot baseline), that run against every seed of the other."""
    runs = {m: frame[frame.method == m].set_index("seed") for m in (a, b)}
    seeds = {m: sorted(runs[m].index) for m in (a, b)}
    if min(map(len, seeds.values())) > 1:
        seeds = dict.fromkeys((a, b), sorted(set(seeds[a]) & set(seeds[b])))
    if not all(seeds.values()):
        raise ValueError(f"{a} and {b} share no seed: run both first")
    return paired(*(scale * seed_scores(runs[m], column, seeds[m]) for m in (a, b)))


def paired_difference(runs, ref, column: str = "test_correct", scale: float = 100.0) -> str:
    """seed_paired of two methods' result rows as table text: "+0.4 (-0.9 to +1.7)"; blank when the
    files hold no per-item results or share no seed."""
    if column not in runs or runs[column].isna().any() or ref.empty or ref[column].isna().any():
        return ""
    if not set(runs.seed) & set(ref.seed):
        return ""
    frame = pd.concat([runs.assign(method="a"), ref.assign(method="b")])
    mean, low, high, _ = seed_paired(frame, "a", "b", column, scale)
    return f"{mean:+.1f} ({low:+.1f} to {high:+.1f})"


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval of a difference tells the two sides apart: 0 lies outside it (an end on 0 does not)."""
    return not low <= 0 <= high


def describe_difference(a: str, b: str, d: Paired, unit: str = "chrF") -> str:
    """One sentence for a paired difference a - b in `unit` (seed_paired, or Paired(*paired_bootstrap(...), 1)
    for single runs): which is ahead, or that the interval says neither, each seed's difference beside it."""
    interval = f"{d.estimate:+.1f} {unit}, 95% interval {d.low:+.1f} to {d.high:+.1f}; {d.spread()}"
    if not excludes_zero(d.low, d.high):
        return f"{a} vs {b}: {interval}: the interval includes 0, so neither is ahead at this scale"
    return f"{a} vs {b}: {interval}: {a if d.estimate > 0 else b} is ahead"
