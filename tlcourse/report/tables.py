"""Tables built from result files: the method comparison, the course table, the precision
comparison, the course map, and the README's generated sections."""
import json
import re
from pathlib import Path

import pandas as pd

from .. import lessons
from ..engine.config import LESSON_TIMES, LESSON_TIMES_FRESH, ROOT
from ..engine.records import format_mean_std, KEYS, load_results, mean_std
from ..experiments.method_grid import METHODS
from ..experiments.protocol import cost_columns, paired_bootstrap, paired_difference


def method_table(folder, data="rotten_tomatoes", model=None, reference="full"):
    """The course's comparison table for one dataset: one row per method, mean ± std over seeds,
    the learning rate chosen on validation, the paired difference from `reference` on the same
    test items (paired_bootstrap; blank where files hold no per-item results), and its costs, per
    run and per optimiser step (which early stopping does not change)."""
    frame = load_results(folder)
    if frame.empty:
        raise FileNotFoundError(f"no result files under {folder}: run `make results` first")
    frame = frame[(frame.data == data) & (frame.method.isin(METHODS))]
    if model:
        frame = frame[frame.model == model]
    ref = frame[frame.method == reference]
    rows = []
    for method, runs in sorted(frame.groupby("method"), key=lambda kv: list(METHODS).index(kv[0])):
        acc = runs.metric_accuracy * 100
        rows.append({"method": method, "what trains": METHODS[method],
                     "lr (C)": _rate(runs), "accuracy %": mean_std(acc, 1),
                     f"Δ vs {reference} (95% interval)": paired_difference(runs, ref) if method != reference else "—",
                     "seeds": len(runs), "best epoch": _mean_of(runs, "best_epoch", "{:.1f}"),
                     "trainable params": f"{int(runs.trainable_params.iloc[0]):,}",
                     "trainable %": _short(100 * runs.trainable_share.iloc[0]),
                     **cost_columns(runs), "ms per step": _per_step(runs),
                     "saved MB": _short(runs.checkpoint_size_mb.mean())})
    return pd.DataFrame(rows)


def _per_step(runs) -> str:
    """Training time per optimiser step, validation passes left out: a run's time depends on how many
    epochs early stopping allowed, its time per step does not ("—" for methods without steps)."""
    if "steps" not in runs or runs.steps.isna().all() or "train_time_s" not in runs:
        return "—"
    return f"{1000 * (runs.train_time_s / runs.steps).mean():.0f}"


def _short(value: float) -> str:
    """Two significant digits below 10 (0.0034, 7.9), whole numbers above (16, 100)."""
    return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"


def _rate(runs) -> str:
    """The rate the runs used ("—" for methods without one, e.g. majority)."""
    if "lr" not in runs or runs.lr.isna().all() or runs.method.iloc[0] == "majority":
        return "—"
    return ", ".join(f"{v:g}" for v in sorted(runs.lr.dropna().unique()))


def _mean_of(runs, column: str, fmt: str) -> str:
    return fmt.format(runs[column].mean()) if column in runs and runs[column].notna().any() else "—"


def markdown(frame) -> str:
    """A DataFrame as a GitHub markdown table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def readme_section(text: str, profile: str, document: str = "README.md") -> tuple[int, int]:
    """Start and end offsets of the generated results table in README text."""
    start, end = f"<!-- results:{profile}:start -->", f"<!-- results:{profile}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{document} has no {start} ... {end} markers")
    return text.index(start) + len(start), text.index(end)


def update_readme(table: str, section: str, document: str = "README.md") -> None:
    """Replace one generated section of the README (or of `document`, e.g. WORKSHOP.md) with `table`."""
    path = ROOT / document
    text = path.read_text()
    a, b = readme_section(text, section, document)
    path.write_text(text[:a] + "\n" + table + "\n" + text[b:])


def course_map(profiles=("cpu", "gpu")):
    """Each lesson: what it shows, its measured time in each profile (`make course`), exercise links.
    A profile with a fresh-clone record (LESSON_TIMES_FRESH) gets two time columns: from a fresh clone,
    and with warm caches; otherwise one."""
    import nbformat
    columns = {}
    for p in profiles:
        fresh, warm = (_lesson_times(ROOT / "results" / p / name) for name in (LESSON_TIMES_FRESH, LESSON_TIMES))
        columns |= {f"{p} time, fresh clone": fresh, f"{p} time, warm caches": warm} if fresh else {f"{p} time": warm}
    rows = []
    for nb in (ROOT / "notebooks" / entry.notebook for entry in lessons.LESSONS):
        first = next(c.source for c in nbformat.read(nb, 4).cells if c.cell_type == "markdown")
        lesson, _, shows = first.splitlines()[0].lstrip("# ").strip().partition(" — ")
        links = [f"[{kind}]({kind}s/{nb.name})" for kind in ("exercise", "solution")
                 if (ROOT / f"{kind}s" / nb.name).exists()]
        rows.append({"lesson": f"[{lesson}](notebooks/{nb.name})", "what it shows": shows}
                    | {column: f"{times[nb.name] / 60:.1f} min" if nb.name in times else "not run"
                       for column, times in columns.items()}
                    | {"exercise": " · ".join(links) or "—"})
    return pd.DataFrame(rows)


def lesson_times(profile="cpu"):
    """The instructor's table (WORKSHOP.md): each lesson's measured run time in `profile` (from a fresh
    clone and with warm caches, when both were recorded), with the totals, from the course map's files."""
    frame = course_map((profile,))
    columns = [c for c in frame.columns if c.startswith(f"{profile} time")]
    totals = {}
    for column, name in zip(columns, (LESSON_TIMES_FRESH, LESSON_TIMES) if len(columns) == 2 else (LESSON_TIMES,)):
        times = _lesson_times(ROOT / "results" / profile / name)
        totals[column] = f"{sum(times.values()) / 60:.0f} min, all {len(times)}"
    frame = frame[["lesson", "what it shows", *columns, "exercise"]].assign(
        exercise=frame.exercise.ne("—").map({True: "yes", False: "—"}))
    return pd.concat([frame, pd.DataFrame([{"lesson": "**total**", "what it shows": "", **totals, "exercise": ""}])],
                     ignore_index=True)


def _lesson_times(path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def lesson_time(notebook: str, profiles=("cpu", "gpu")) -> str:
    """The line a lesson's set-up cell prints: its measured run time under `tlcourse run` in each
    profile, from the runbook's records (the course map's files), so that no lesson types a time into
    its prose. A record is the last run's: a lesson prints the time of the run before its own."""
    parts = []
    for p in profiles:
        fresh, warm = (_lesson_times(ROOT / "results" / p / name).get(notebook)
                       for name in (LESSON_TIMES_FRESH, LESSON_TIMES))
        times = [f"{_duration(s)} {how}" for s, how in ((fresh, "from a fresh clone"), (warm, "with warm caches"))
                 if s is not None]
        parts.append(f"{p} " + (", ".join(times) if times else "not recorded yet"))
    return "this lesson's last measured time under `tlcourse run` (README's course map): " + "; ".join(parts)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def model_name(model: str) -> str:
    """A result's model as a reader names it: an encoder lesson 08 adapted by TAPT, recorded as its cache
    folder (data/cache/adapted/<base>-tapt-<profile>-<key>), as "<base> adapted (TAPT)"; any other as recorded."""
    adapted = re.fullmatch(r"(?:.*/)?adapted/([^/]+?)-tapt-[^/]+", model)
    return f"{adapted[1]} adapted (TAPT)" if adapted else model


def course_table(folder):
    """Every result file under `folder`, all lessons, in one table: one row per data, model, method
    and training size; the metrics that row measured, each as mean ± std over seeds (accuracy-like
    ones in %), in one column; seeds and cost."""
    frame = load_results(folder)
    if frame.empty:
        raise FileNotFoundError(f"no result files under {Path(folder).name}/: run the lessons or `make results`")
    frame = frame.assign(labels=frame.get("train_size")).fillna({"labels": -1})  # -1: not recorded
    metrics = sorted(c for c in frame.columns if c.startswith("metric_"))
    rows = []
    for (data, model, method, labels), runs in frame.groupby(["data", "model", "method", "labels"]):
        measured = []
        for col in metrics:
            pct = col.endswith(("accuracy", "f1", "format"))  # shares: shown in %
            v = runs[col].dropna() * (100 if pct else 1)
            if len(v):
                measured.append(f"{col.removeprefix('metric_')} {mean_std(v, 1 if pct else None)}")
        rows.append({"data": data, "model": model_name(model), "method": method,
                     "labels": int(labels) if labels >= 0 else "—",
                     "measured": " · ".join(measured), "seeds": runs.seed.nunique(),
                     "trainable params": f"{runs.trainable_params.mean():,.0f}",
                     **cost_columns(runs, ".3g")})
    return pd.DataFrame(rows)


def precision_table(fp32_folder, bf16_folder, data="rotten_tomatoes"):
    """The same runs in fp32 and in bf16 autocast: accuracy and the difference seed by seed (same seed =
    same training subset, order and test items). The fp32 files keep no per-item results, so no
    interval over items is drawn: each seed's difference is shown, with their mean."""
    a, b = load_results(fp32_folder), load_results(bf16_folder)
    rows = []
    for method in METHODS:
        runs = [f[(f.method == method) & (f.data == data)].set_index("seed") for f in (a, b)]
        seeds = sorted(set(runs[0].index) & set(runs[1].index))
        if not seeds or method == "majority":
            continue
        fp32, bf16 = (100 * r.loc[seeds].metric_accuracy for r in runs)
        diff = bf16 - fp32
        rows.append({"method": method, "seeds": len(seeds), "fp32 accuracy %": mean_std(fp32, 1),
                     "bf16 accuracy %": mean_std(bf16, 1),
                     "bf16 − fp32, points per seed (mean)": ", ".join(f"{d:+.1f}" for d in diff)
                     + f" ({diff.mean():+.1f})"})
    return pd.DataFrame(rows)


def summarize(frame, columns=None, by=KEYS):
    """Mean and std over seeds of each numeric column, plus a "mean ± std" text column for tables."""
    columns = columns or [c for c in frame.columns if c.startswith("metric_")] + ["trainable_params", "wall_time_s"]
    grouped = frame.groupby(list(by), dropna=False)
    table = grouped[columns].agg(["mean", "std"])
    table.columns = [f"{c}_{stat}" for c, stat in table.columns]
    table["n_seeds"] = grouped["seed"].nunique()
    for c in columns:
        std = table[f"{c}_std"].fillna(0.0)  # one seed: no spread to show
        table[c] = [format_mean_std(m, s) for m, s in zip(table[f"{c}_mean"], std)]
    return table.reset_index()


def forgetting_table(before: dict, after: dict):
    """Accuracy % before and after each fine-tune (`after`: {column name: its other_task_correct}), and
    each change in points with its paired 95% interval over the same test items (negative = forgotten)."""
    table = pd.DataFrame({"before %": {m: 100 * v.mean() for m, v in before.items()}})
    for name, correct in after.items():
        table[f"{name} %"] = [100 * correct[m].mean() for m in table.index]
        changes = [paired_bootstrap(100 * correct[m], 100 * before[m]) for m in table.index]
        table[f"change, {name} (pts)"] = [f"{d:+.1f} ({low:+.1f} to {high:+.1f})" for d, low, high in changes]
    return table.round(1)


def _bench(folder, name: str) -> dict | None:
    path = Path(folder) / f"bench_{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def speed_table(folder):
    """Every workload `make bench` times: examples per second, achieved TFLOP/s and its share of the
    measured matmul peak of its precision (bench.peak_flops), from results/bench/*.json."""
    rows = []
    trainer, precision, llm = (_bench(folder, n) for n in ("trainer", "precision", "llm"))
    for side in ("tlcourse", "trainer") if trainer else ():
        flops = pd.Series([r["flops_per_s"] for r in trainer[side]["runs"]]).median()
        rows.append({"workload": f"{trainer['model']} classifier, {side} loop", "precision": trainer["precision"],
                     "examples/s": trainer[side]["examples_per_s_median"], "TFLOP/s": flops / 1e12,
                     "share of peak": trainer[side]["share_of_peak"]})
    for name in ("minilm_train", "minilm_embed", "smollm2_train") if precision else ():
        for p in ("bf16", "fp32"):
            per_s, flops = (pd.Series(precision[name][f"{p}_{k}"]).median() for k in ("per_s", "flops_per_s"))
            rows.append({"workload": precision["workloads"][name].split(":")[0], "precision": p,
                         "examples/s": per_s, "TFLOP/s": flops / 1e12, "share of peak": precision[name][f"{p}_share_of_peak"]})
    for name in ("before", "all") if llm else ():
        r = llm["recipes"][name]
        rows.append({"workload": f"SmolLM2-135M LoRA step on lesson 10's chats, recipe {name!r} (bench llm)",
                     "precision": llm["precision"],
                     "examples/s": r["examples_per_s"], "TFLOP/s": r["flops_per_s"] / 1e12, "share of peak": r["share_of_peak"]})
    table = pd.DataFrame(rows)
    if not table.empty:
        table["examples/s"] = table["examples/s"].map(lambda v: f"{v:.3g}")
        table["TFLOP/s"] = table["TFLOP/s"].map(lambda v: f"{v:.3f}")
        table["share of peak"] = table["share of peak"].map(lambda v: f"{v:.1%}")
    return table


def levers_table(folder):
    """bench_llm's recipes: what each changes from the course's earlier SmolLM2 LoRA step, examples
    per second (median of the alternating rounds), the ratio to before, and the share of peak."""
    llm = _bench(folder, "llm")
    if llm is None:
        return pd.DataFrame()
    before = llm["recipes"]["before"]
    rows = []
    for name, r in llm["recipes"].items():
        changed = [f"{k}={r[k]}" for k in ("dropout", "attention", "bf16_base", "labelled_loss", "cast_inputs")
                   if r.get(k, True) != before.get(k, True)]
        rows.append({"recipe": name, "changes": ", ".join(changed) or "—", "examples/s": f"{r['examples_per_s']:.2f}",
                     "× before": f"{r['ratio']:.2f}", "share of peak": f"{r['share_of_peak']:.1%}"})
    return pd.DataFrame(rows)


def profile_table(folder):
    """bench_llm's profiles: the five operators with the most self CPU time in one step, before and after."""
    llm = _bench(folder, "llm")
    rows = [{"recipe": name, "operator": r["op"], "share of the step": f"{r['share']:.1%}",
             "ms": f"{r['self_ms']:.0f}", "calls": r["calls"]}
            for name, ops in (llm or {}).get("profiles", {}).items() for r in ops]
    return pd.DataFrame(rows)
