"""The protocol every lesson's experiments follow, written once.

    choice = search("lora", (1e-3, 3e-3), validate, folder, asked, score=Score("val_accuracy", higher=True))
    choice.value, choice.candidates           # the setting chosen on validation at the first seed
    record = stored(path, asked)              # a result file, only while it stands for the run asked now
    mean, low, high = paired_bootstrap(a, b)  # paired difference on the same test items, 95% interval
Settings are chosen on validation at the first seed, never on test; every candidate's validation
record is kept (resumable), the winner's first-seed run is reused, not trained again, and later
seeds take the chosen value directly. A stored result is reused only while everything it was made
from is unchanged: what `asked` names (experiment fields, sizes, protocol version, data hash, and
upstream artefacts such as a teacher, an adapted encoder, a judge or preference pairs).
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine.records import write_json

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


def differences(record: dict, asked: dict) -> list[str]:
    """The names in `asked` whose stored value differs from the one asked now."""
    return [k for k, v in asked.items() if _plain(record.get(k)) != _plain(v)]


def _plain(value):
    """A value as a JSON file gives it back (tuples become lists), so stored and asked compare equal."""
    return json.loads(json.dumps(value, default=str))


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
    best, rows = None, []
    for value in tqdm(candidates, desc=f"{name}: choosing on validation", leave=False):
        path, provenance = Path(folder) / "sweep" / f"{name}__{label(value)}.json", asked(value)
        record, kept = stored(path, provenance), None
        if record is None:
            record, kept = validate(value)
            write_json(path, record | provenance)
        rows.append(describe(value, record))
        if score.better(record, best and best[1]):
            best = (value, record, kept)
    return Choice(best[0], rows, best[1:] if best[2] is not None else None)


def grid_position(value, grid) -> str:
    """Where a chosen value sits in the grid it was chosen from: a choice on an edge may lie beyond it."""
    grid = sorted(grid)
    if len(grid) > 1 and value == grid[-1]:
        return "the top of its grid"
    if len(grid) > 1 and value == grid[0]:
        return "the bottom of its grid"
    return "inside its grid"


def paired_bootstrap(a, b, statistic=None, level: float = 0.95, resamples: int = 10_000, seed: int = 0):
    """The course's one paired comparison: statistic(a) - statistic(b) on the same test items, and its
    percentile bootstrap interval over the items.

    a, b: per-item scores on the same items in the same order, (items, ...); over several seeds, each
    item's score averaged over them first (seed_mean). statistic maps items resampled
    as (resamples, items, ...) to (resamples,); default: the mean over items. Items are resampled with
    replacement, the same draws for a and b. Returns (estimate, low, high) in the scores' unit."""
    statistic = statistic or (lambda x: x.mean(1))
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))  # (resamples, items)
    d = statistic(a[idx]) - statistic(b[idx])  # (resamples,)
    low, high = np.quantile(d, [(1 - level) / 2, (1 + level) / 2])
    return float((statistic(a[None]) - statistic(b[None]))[0]), float(low), float(high)


def seed_mean(runs, column: str, seeds) -> np.ndarray:
    """Per-item scores (`column`: one list per result file) averaged over `seeds`: (items,).
    runs: result rows of one method indexed by seed."""
    return np.mean([np.asarray(runs.loc[s, column], dtype=float) for s in seeds], axis=0)


def seed_paired(frame, a: str, b: str, column: str, scale: float = 1.0) -> tuple:
    """Method a minus method b on the same test items, each item's score averaged over the seeds both
    ran, by paired_bootstrap: (estimate, low, high, seeds) in the column's unit times `scale`."""
    runs = {m: frame[frame.method == m].set_index("seed") for m in (a, b)}
    seeds = sorted(set(runs[a].index) & set(runs[b].index))
    if not seeds:
        raise ValueError(f"{a} and {b} share no seed: run both first")
    mean, low, high = paired_bootstrap(*(scale * seed_mean(runs[m], column, seeds) for m in (a, b)))
    return mean, low, high, len(seeds)


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


def describe_difference(a: str, b: str, mean: float, low: float, high: float, seeds: int,
                        unit: str = "chrF") -> str:
    """One sentence for a paired difference a - b in `unit`: which is ahead, or that the interval says neither."""
    interval = f"{mean:+.1f} {unit}, 95% interval {low:+.1f} to {high:+.1f} ({seeds} seed(s))"
    if not excludes_zero(low, high):
        return f"{a} vs {b}: {interval}: the interval includes 0, so neither is ahead at this scale"
    return f"{a} vs {b}: {interval}: {a if mean > 0 else b} is ahead"
