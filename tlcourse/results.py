"""One JSON file per experiment; every table and plot of results is built from these files.

A file records what was run (method, model, data, profile, seed), what came out (metrics) and
what it cost (parameters trained, time, memory, checkpoint size), on which machine and with
which library versions. No timestamps: rerunning an experiment rewrites the same file.
"""
import json
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = ("torch", "transformers", "accelerate", "peft", "datasets", "tokenizers", "safetensors",
             "numpy", "scikit-learn", "tiktoken", "gguf", "trl", "sacrebleu")
KEYS = ("method", "model", "data", "profile")  # an experiment; seeds are its repetitions


def hardware():
    """CPU model and cores, and the GPU if there is one."""
    import torch

    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        names = [l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                 if l.startswith("model name")]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "gpus": torch.cuda.device_count(), "platform": platform.platform(terse=True)}


def versions():
    found = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            found[lib] = version(lib)
        except PackageNotFoundError:
            found[lib] = None
    return found


def result_name(method, model, data, profile, seed) -> str:
    """`<method>__<model>__<data>__<profile>__seed<seed>.json`, safe as a file name."""
    parts = (re.sub(r"[^\w.-]+", "-", str(v)) for v in (method, model, data, profile))
    return "__".join(parts) + f"__seed{seed}.json"


def write_result(out_dir, method, model, data, profile, seed, metrics, trainable_params, total_params,
                 wall_time_s, peak_memory_mb, checkpoint_size_mb=None, **extra):
    """Write `out_dir/<method>__<model>__<data>__<profile>__seed<seed>.json` and return its path.

    metrics: e.g. {"accuracy": 0.84, "loss": 0.39}; extra: anything else worth keeping (examples_per_s, …).
    checkpoint_size_mb: what must be stored beside the public base model (the trained weights).
    The precision is recorded as given in extra, else as the profile's setting resolves on this machine.
    """
    extra.setdefault("precision", _precision(profile))
    record = {"method": method, "model": model, "data": data, "profile": profile, "seed": seed,
              "metrics": metrics, "trainable_params": trainable_params, "total_params": total_params,
              "trainable_share": trainable_params / total_params if total_params else 0.0, "wall_time_s": wall_time_s,
              "peak_memory_mb": peak_memory_mb, "checkpoint_size_mb": checkpoint_size_mb,
              "hardware": hardware(), "versions": versions()} | extra
    return write_json(Path(out_dir) / result_name(method, model, data, profile, seed), record)


def write_json(path, record: dict) -> Path:
    """Write a record as sorted, indented JSON, atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
    return path


def _precision(profile_name) -> str:
    """What the named profile's precision setting means here: "no" (fp32), "bf16" or "fp16"."""
    from .config import PROFILES
    from .device import mixed_precision
    return mixed_precision(PROFILES[profile_name].mixed_precision if profile_name in PROFILES else "auto")


def write_fit_result(out_dir, train_result, method, model, data, profile, seed, **extra):
    """write_result from a tlcourse.train.TrainResult (its metrics, costs and throughput); the size
    saved beside the base model, when known, goes in extra as checkpoint_size_mb."""
    s = train_result.summary()
    costs = ("trainable_params", "total_params", "wall_time_s", "peak_memory_mb")
    kept = {k: s[k] for k in ("steps", "train_loss", "train_time_s", "examples_per_s", "tokens_per_s", "mfu",
                              "precision", "device", "distributed", "processes", "best_metric", "best_step",
                              "stopped_early")}
    return write_result(out_dir, method, model, data, profile, seed, s["metrics"], *(s[k] for k in costs),
                        **kept | extra)


def load_results(folder):
    """Every result JSON under `folder` as one DataFrame row; metrics become columns (metric_<name>)."""
    import pandas as pd

    rows = []
    for path in sorted(Path(folder).rglob("*.json")):
        record = json.loads(path.read_text())
        if not all(k in record for k in KEYS + ("metrics",)):
            continue  # some other JSON (a benchmark, a manifest)
        flat = {k: v for k, v in record.items() if k not in ("metrics", "hardware", "versions")}
        flat |= {f"metric_{k}": v for k, v in record["metrics"].items()}
        rows.append(flat | {"gpu": record.get("hardware", {}).get("gpu"), "file": path.name})
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


def method_table(folder, data="rotten_tomatoes", model=None, reference="full"):
    """The course's comparison table for one dataset: one row per method, mean ± std over seeds,
    the learning rate chosen on validation, and the paired difference from `reference` on the same
    test items (paired_bootstrap; blank where files hold no per-item results)."""
    import pandas as pd
    from .methods import METHODS
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
                     "trainable %": f"{100 * runs.trainable_share.iloc[0]:.3g}",
                     "time s": f"{runs.wall_time_s.mean():.0f}",
                     "peak MB": f"{runs.peak_memory_mb.median():.0f}",
                     "saved MB": f"{runs.checkpoint_size_mb.mean():.3g}"})
    return pd.DataFrame(rows)


def _rate(runs) -> str:
    """The rate the runs used ("—" for methods without one, e.g. majority)."""
    if "lr" not in runs or runs.lr.isna().all() or runs.method.iloc[0] == "majority":
        return "—"
    return ", ".join(f"{v:g}" for v in sorted(runs.lr.dropna().unique()))


def _mean_of(runs, column: str, fmt: str) -> str:
    return fmt.format(runs[column].mean()) if column in runs and runs[column].notna().any() else "—"


def paired_difference(runs, ref) -> str:
    """Points of accuracy of `runs` above `ref` on the same test items, on the seeds both have, with
    the 95% paired bootstrap interval: "+0.4 (-0.9 to +1.7)"; blank without per-item results."""
    if "test_correct" not in runs or runs.test_correct.isna().any() or ref.empty or ref.test_correct.isna().any():
        return ""
    seeds = sorted(set(runs.seed) & set(ref.seed))
    if not seeds:
        return ""
    a, b = (r.set_index("seed").loc[seeds].test_correct.tolist() for r in (runs, ref))
    mean, low, high = paired_bootstrap(a, b)
    return f"{100 * mean:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})"


def paired_bootstrap(a, b, level: float = 0.95, resamples: int = 10_000, seed: int = 0):
    """Mean difference a - b of per-item correctness, and its percentile bootstrap interval.

    a, b: (seeds, items) 0/1 correctness on the same test items, seed by seed (same training
    subset and order). Each item's difference is averaged over the seeds; the items are resampled
    with replacement, so the interval is the test set's sampling noise on the seed-averaged gap.
    Returns (mean, low, high) as shares (0.01 = one point)."""
    import numpy as np
    d = (np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean(0)  # (items,)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(1)  # (resamples,)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(low), float(high)


def markdown(frame) -> str:
    """A DataFrame as a GitHub markdown table."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def readme_section(text: str, profile: str) -> tuple[int, int]:
    """Start and end offsets of the generated results table in README text."""
    start, end = f"<!-- results:{profile}:start -->", f"<!-- results:{profile}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"README.md has no {start} ... {end} markers")
    return text.index(start) + len(start), text.index(end)


def update_readme(table: str, section: str) -> None:
    """Replace one generated section of the README (between its markers) with `table`."""
    from .config import ROOT
    path = ROOT / "README.md"
    text = path.read_text()
    a, b = readme_section(text, section)
    path.write_text(text[:a] + "\n" + table + "\n" + text[b:])


def course_map(profiles=("cpu", "gpu")):
    """Each lesson: what it shows, its measured time in each profile (`make course`), exercise links."""
    import pandas as pd
    from .config import ROOT
    import nbformat
    times = {p: _lesson_times(ROOT / "results" / p / "lesson_times.json") for p in profiles}
    rows = []
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = next(c.source for c in nbformat.read(nb, 4).cells if c.cell_type == "markdown")
        lesson, _, shows = first.splitlines()[0].lstrip("# ").strip().partition(" — ")
        links = [f"[{kind}]({kind}s/{nb.name})" for kind in ("exercise", "solution")
                 if (ROOT / f"{kind}s" / nb.name).exists()]
        rows.append({"lesson": f"[{lesson}](notebooks/{nb.name})", "what it shows": shows}
                    | {f"{p} time": f"{times[p][nb.name] / 60:.1f} min" if nb.name in times[p] else "not run"
                       for p in profiles}
                    | {"exercise": " · ".join(links) or "—"})
    return pd.DataFrame(rows)


def _lesson_times(path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def mean_std(values, decimals: int | None = None) -> str:
    """ "mean ± std" over seeds (std 0 for one seed), formatted by format_mean_std."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    return format_mean_std(v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0, decimals)


def format_mean_std(mean: float, std: float, decimals: int | None = None) -> str:
    """The course's one format for mean ± std: both with the same decimals; decimals=None: enough
    for three significant digits of the mean."""
    import math
    if decimals is None:
        decimals = max(0, 2 - math.floor(math.log10(abs(mean)))) if mean and math.isfinite(mean) else 1
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def course_table(folder):
    """Every result file under `folder`, all lessons, in one table: one row per data, model, method
    and training size; each metric as mean ± std over seeds (accuracy-like ones in %), seeds, cost."""
    import pandas as pd
    frame = load_results(folder)
    if frame.empty:
        raise FileNotFoundError(f"no result files under {Path(folder).name}/: run the lessons or `make results`")
    frame = frame.assign(labels=frame.get("train_size")).fillna({"labels": -1})  # -1: not recorded
    metrics = sorted(c for c in frame.columns if c.startswith("metric_"))
    rows = []
    for (data, model, method, labels), runs in frame.groupby(["data", "model", "method", "labels"]):
        row = {"data": data, "model": model, "method": method, "labels": int(labels) if labels >= 0 else "—"}
        for col in metrics:
            pct = col.endswith(("accuracy", "f1"))  # shares: shown in %
            v = runs[col].dropna() * (100 if pct else 1)
            row[col.removeprefix("metric_")] = mean_std(v, 1 if pct else None) if len(v) else ""
        rows.append(row | {"seeds": runs.seed.nunique(), "trainable params": f"{runs.trainable_params.mean():,.0f}",
                           "time s": f"{runs.wall_time_s.mean():.3g}", "peak MB": f"{runs.peak_memory_mb.median():.3g}"})
    return pd.DataFrame(rows)


def seed_paired_difference(frame, a: str, b: str, column: str, folder_name: str, scale: float = 1.0) -> tuple:
    """Paired difference a - b of a per-item score list (`column`, one list per result file, the same
    test items in the same order), per item averaged over the seeds both methods ran, times `scale`:
    (mean, low, high) of its 95% t interval over the items, and the number of seeds used."""
    import numpy as np
    runs = {m: frame[frame.method == m].set_index("seed")[column] for m in (a, b)}
    seeds = sorted(set(runs[a].index) & set(runs[b].index))
    if not seeds:
        raise ValueError(f"{a} and {b} share no seed in {folder_name}/")
    diff = scale * np.mean([np.subtract(runs[a][s], runs[b][s]) for s in seeds], axis=0)  # (items,)
    return (*paired_interval(diff), len(seeds))


def describe_difference(a: str, b: str, mean: float, low: float, high: float, seeds: int,
                        unit: str = "chrF") -> str:
    """One sentence for a paired difference a - b in `unit`: which is ahead, or that the interval says neither."""
    import math
    interval = f"{mean:+.1f} {unit}, 95% interval {low:+.1f} to {high:+.1f} ({seeds} seed(s))"
    if math.isnan(low) or low <= 0 <= high:
        return f"{a} vs {b}: {interval}: the interval includes 0, so neither is ahead at this scale"
    return f"{a} vs {b}: {interval}: {a if mean > 0 else b} is ahead"


def paired_interval(differences, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its t interval over the pairs: (mean, low, high).

    One pair gives no interval (low = high = nan)."""
    import numpy as np
    from scipy import stats
    d = np.asarray(differences, dtype=float)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return mean, mean - half, mean + half


def precision_table(fp32_folder, bf16_folder, data="rotten_tomatoes"):
    """The same runs in fp32 and in bf16 autocast: accuracy and the paired difference per seed
    (same seed = same training subset, order and test items), with its 95% t interval over seeds."""
    import pandas as pd
    from .methods import METHODS
    a, b = load_results(fp32_folder), load_results(bf16_folder)
    rows = []
    for method in METHODS:
        runs = [f[(f.method == method) & (f.data == data)].set_index("seed") for f in (a, b)]
        seeds = sorted(set(runs[0].index) & set(runs[1].index))
        if not seeds or method == "majority":
            continue
        fp32, bf16 = (100 * r.loc[seeds].metric_accuracy for r in runs)
        mean, low, high = paired_interval(bf16 - fp32)
        rows.append({"method": method, "seeds": len(seeds), "fp32 accuracy %": mean_std(fp32, 1),
                     "bf16 accuracy %": mean_std(bf16, 1),
                     "bf16 − fp32, points (95% interval)": f"{mean:+.1f} ({low:+.1f} to {high:+.1f})"})
    return pd.DataFrame(rows)
