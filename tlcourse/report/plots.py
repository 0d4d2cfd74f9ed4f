"""Figures the lessons share: method comparisons from result files, memory, training curves."""
import math

import numpy as np
import pandas as pd

from ..lessons.choosing import pareto_front
from ..methods.freezing import blocks, head_parameters


COST_COLUMNS = {  # result column -> panel title
    "metric_accuracy": "test accuracy",
    "wall_time_s": "wall time (s)",
    "peak_memory_mb": "peak memory added (MB)",
    "checkpoint_size_mb": "saved beside the base model (MB)",
}


def method_bars(frame, methods, columns=None, scale=None, title=None):
    """One panel per column: the mean over seeds of each method (error bar = std), in order.

    frame: records.load_results(); methods: result method names in the order to draw;
    columns: {column: panel title} (default COST_COLUMNS); scale: {column: factor}.
    """
    import matplotlib.pyplot as plt
    columns = columns or COST_COLUMNS
    scale = {"metric_accuracy": 100} | (scale or {})
    rows = frame[frame.method.isin(methods)]
    grouped = rows.groupby("method")[list(columns)]
    mean, std = grouped.mean().reindex(methods), grouped.std().reindex(methods).fillna(0)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2))
    for ax, (col, label) in zip(axes if len(columns) > 1 else [axes], columns.items()):
        k = scale.get(col, 1)
        ax.bar(methods, mean[col] * k, yerr=std[col] * k, color=[f"C{i}" for i in range(len(methods))],
               capsize=3)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", rotation=45)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


MEMORY_PARTS = {"weights_mb": "weights", "gradients_mb": "gradients",
                "optimizer_mb": "AdamW moments", "activations_mb": "activations",
                "transient_mb": "backward / step scratch"}


def memory_breakdown(estimates: dict, ax=None, title=None):
    """Stacked bars of memory.estimate() results: {name: MemoryEstimate} -> where the MB go."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    names, bottom = list(estimates), [0.0] * len(estimates)
    for attr, label in MEMORY_PARTS.items():
        values = [getattr(e, attr) for e in estimates.values()]
        ax.bar(names, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    for i, total in enumerate(bottom):
        ax.text(i, total, f"{total:,.0f} MB", ha="center", va="bottom", fontsize=9)
    ax.set(ylabel="estimated peak (MB)", title=title or "Where training memory goes")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def train_eval_curves(history, ax=None, title=None):
    """Training and validation loss against epoch (TrainResult.frame()); a star at the lowest
    validation loss, and validation accuracy on a second axis, with a star at its highest, when it was
    measured: the two need not fall at the same evaluation."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    train, evals = history.dropna(subset=["train_loss"]), history.dropna(subset=["eval_loss"])
    ax.plot(train.epoch, train.train_loss, label="training loss")
    ax.plot(evals.epoch, evals.eval_loss, "o-", label="validation loss")
    best = evals.loc[evals.eval_loss.idxmin()]
    ax.plot(best.epoch, best.eval_loss, "k*", ms=14, label="lowest validation loss")
    ax.set(xlabel="epoch", ylabel="loss", title=title or "Training vs validation loss")
    lines = ax.get_lines()
    if "eval_accuracy" in evals:
        acc = ax.twinx()
        acc.plot(evals.epoch, evals.eval_accuracy * 100, "s:", color="C2", label="validation accuracy")
        top = evals.loc[evals.eval_accuracy.idxmax()]
        acc.plot(top.epoch, top.eval_accuracy * 100, "*", color="C2", mec="k", ms=14,
                 label="highest validation accuracy")
        acc.set_ylabel("validation accuracy %", color="C2")
        lines += acc.get_lines()
    ax.legend(lines, [l.get_label() for l in lines], fontsize=8, ncol=3, loc="upper center",
              bbox_to_anchor=(0.5, -0.18))
    return ax


def validation_curves(frame, methods, seed: int = 0, ax=None, title=None):
    """Validation accuracy after every epoch, one line per method, from result files (val_curve);
    a star where each run's best epoch was, the weights it kept. One seed (default 0) per method.
    The head on cached features runs many short epochs: the epoch axis is logarithmic."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    for i, method in enumerate(methods):
        runs = frame[(frame.method == method) & (frame.seed == seed)]
        if runs.empty or not isinstance(runs.val_curve.iloc[0], list):
            continue
        curve = [100 * a for a in runs.val_curve.iloc[0]]
        best = int(runs.best_epoch.iloc[0])
        ax.plot(range(1, len(curve) + 1), curve, "o-", ms=3, color=f"C{i}", label=method)
        ax.plot(best, curve[best - 1], "*", ms=12, color=f"C{i}")
    ax.set(xlabel="epoch", ylabel="validation accuracy %",
           title=title or f"Validation accuracy per epoch (seed {seed}; star: the weights kept)")
    _log_axis(ax)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return ax


def layer_probe_curve(accuracies, floor=None, ax=None, title=None, split: str = "test"):
    """Probe accuracy of each layer's features (features.layer_probe): 0 = token embeddings.

    floor: the majority-class accuracy, drawn as a dashed line; a star marks the best layer;
    split: which set the accuracies were measured on (the y-axis label).
    """
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    acc = np.asarray(accuracies) * 100
    best = int(acc.argmax())
    ax.plot(range(len(acc)), acc, "o-", label="logistic-regression probe")
    ax.plot(best, acc[best], "k*", ms=14, label=f"best: layer {best}")
    if floor is not None:
        ax.axhline(floor * 100, color="gray", ls="--", label="majority class")
    ax.set_xticks(range(len(acc)), ["emb"] + [str(i) for i in range(1, len(acc))])
    ax.set(xlabel="layer (emb = token embeddings, then each transformer block)",
           ylabel=f"{split} accuracy %", title=title or "Which layer's features are best?")
    ax.legend(fontsize=8)
    return ax


def accuracy_vs_params(frame, methods, ax=None, title=None):
    """Mean test accuracy (error bar = std over seeds) against trainable parameters, log x.

    frame: records.load_results(); methods: the result method names to draw.
    """
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rows = frame[frame.method.isin(methods)]
    stats = rows.groupby("method").agg(acc=("metric_accuracy", "mean"), std=("metric_accuracy", "std"),
                                       params=("trainable_params", "mean")).reindex(methods).dropna(subset=["acc"])
    for i, (method, r) in enumerate(stats.iterrows()):
        spread = 0.0 if r["std"] != r["std"] else r["std"]  # one seed: std is NaN, no bar
        ax.errorbar(r.params, r.acc * 100, yerr=spread * 100, fmt="o", color=f"C{i}", capsize=3, ms=8)
        ax.annotate(method, (r.params, r.acc * 100), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters (log scale)", ylabel="test accuracy %",
           title=title or "Accuracy against what is trained")
    ax.grid(alpha=0.3, which="both")
    return ax


def lr_curves(curves: dict, ax=None, title=None):
    """Learning rate against optimizer step: {label: [lr per step]} (schedules.lr_curve)."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    for label, lrs in curves.items():
        ax.plot(range(len(lrs)), lrs, label=label)
    ax.set(xlabel="optimizer step", ylabel="learning rate", title=title or "Learning-rate schedules")
    ax.legend(fontsize=8)
    return ax


def layer_learning_rates(model, groups, ax=None, title=None):
    """Bars of the learning rate each part of `model` gets from optimizer `groups` (log y):
    embeddings, every transformer block bottom to top, then the head."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    parts = {"emb": model.get_input_embeddings().weight}
    parts |= {f"block {i}": next(b.parameters()) for i, b in enumerate(blocks(model))}
    parts["head"] = head_parameters(model)[0]
    ax.bar(list(parts), [rate.get(id(p), 0.0) for p in parts.values()],
           color=["C7"] + ["C0"] * (len(parts) - 2) + ["C3"])
    ax.set_yscale("log")
    ax.set(ylabel="peak learning rate (log scale)", title=title or "Discriminative learning rates")
    return ax


def rank_sweep(sweep, reference: float | None = None, ax=None):
    """LoRA test accuracy against rank (log scale), trainable parameters on a second axis.

    sweep: rows with columns rank, metric_accuracy, trainable_params; reference: full
    fine-tuning's accuracy, drawn as a dashed line."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    sweep = sweep.sort_values("rank")
    ax.plot(sweep["rank"], sweep.metric_accuracy * 100, "o-", label="LoRA test accuracy")
    if reference is not None:
        ax.axhline(reference * 100, color="C3", ls="--", label="full fine-tuning")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sweep["rank"], [str(r) for r in sweep["rank"]])
    ax.set(xlabel="LoRA rank r", ylabel="test accuracy %", title="Accuracy against LoRA rank")
    params = ax.twinx()
    params.plot(sweep["rank"], sweep.trainable_params, "s:", color="C2")
    params.set_ylabel("trainable parameters", color="C2")
    ax.legend(fontsize=8, loc="lower right")
    return ax


def accuracy_vs_speed(table, teacher: str = "teacher", ax=None, title=None):
    """Test accuracy % against inference speed (examples/s, log x) of each model in `table`
    (rows: models; columns "accuracy %", "examples/s", optionally "± std" drawn as error bars over
    seeds); the teacher is drawn as a star."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for i, (name, row) in enumerate(table.iterrows()):
        ax.errorbar(row["examples/s"], row["accuracy %"], yerr=row.get("± std", 0.0), capsize=3,
                    fmt="*" if name == teacher else "o", ms=14 if name == teacher else 8,
                    color="k" if name == teacher else f"C{i}")
        ax.annotate(name, (row["examples/s"], row["accuracy %"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="inference speed, examples/s (log scale)", ylabel="test accuracy %",
           title=title or "Distillation: accuracy against speed")
    ax.grid(alpha=0.3, which="both")
    return ax


def soft_vs_hard(tokens, probs, target: str, ax=None, title=None):
    """The teacher's top next-token probabilities (soft target) beside the one-hot hard target."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(tokens))
    ax.bar(x - 0.2, probs, 0.4, label="soft target: the model's probabilities")
    ax.bar(x + 0.2, [1.0 if t == target else 0.0 for t in tokens], 0.4, label=f"hard target: {target}")
    ax.set_xticks(x, tokens, rotation=45, fontsize=8)
    ax.set(ylabel="probability", title=title or "What a soft target carries")
    ax.legend(fontsize=8)
    return ax


def group_score_bars(scores: dict, ax=None, title=None):
    """Mean P(positive) per group word, one bar set per model: {model label: Series by group}."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    frame = pd.DataFrame(scores)
    frame.plot.bar(ax=ax, rot=45, width=0.8)
    low = max(0.0, frame.min().min() - 0.05)
    ax.set_ylim(low, min(1.0, frame.max().max() + 0.05))
    ax.set(xlabel="group word in the template", ylabel="mean P(positive)",
           title=title or "Same sentences, one word changed")
    ax.legend(fontsize=8)
    return ax


def _log_axis(ax, ticks=None):
    """A log x axis labelled in plain numbers: at `ticks` only (measured sizes), else at 1-2-5 steps
    when the data span under two decades (so such an axis still has labels) and at decades beyond;
    no minor ticks to collide with the labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    ax.set_xscale("log")
    if ticks is not None:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    else:
        lo, hi = ax.get_xlim()
        subs = (1.0, 2.0, 5.0) if math.log10(hi / lo) < 2 else (1.0,)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
    ax.xaxis.set_minor_locator(NullLocator())


def _short(v: float) -> str:
    """1500 -> "1.5k", 2e7 -> "20M": tick labels that fit."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= size:
            return f"{v / size:g}{unit}"
    return f"{v:g}"


def learning_curves(table, baselines=None, floor=None, ax=None, title=None, zero_shot=None):
    """Accuracy % against labelled examples (log x), one line per method with a ± std band.

    table: curves.curve_table(); baselines: curves.baselines() rows, drawn as dotted horizontal
    lines (zero-shot needs no labels); floor: majority-class accuracy %, a dashed gray line;
    zero_shot: curves.zero_shot_answer(), the decision explorer's no-training answer, a solid black
    line labelled on the plot (its baseline row is not drawn again). The legend sits outside the axes,
    so it covers no point."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    for i, (method, c) in enumerate(table.sort_values("size").groupby("method", sort=False)):
        ax.plot(c["size"], c.accuracy, "o-", color=f"C{i}", label=method)
        ax.fill_between(c["size"], c.accuracy - c["std"], c.accuracy + c["std"], color=f"C{i}", alpha=0.2)
    drawn = [] if baselines is None else baselines[baselines.method != getattr(zero_shot, "method", None)]
    for j, b in enumerate(drawn.itertuples() if len(drawn) else []):
        shots = f"{int(b.labels)} examples in the prompt" if b.labels else "no labels"
        ax.axhline(b.accuracy, color=f"C{j + 5}", ls=":", label=f"{b.method} ({b.model}, {shots})")
    if zero_shot is not None:
        _zero_shot_line(ax, zero_shot, max(table["size"]))
    if floor is not None:
        ax.axhline(floor, color="gray", ls="--", label="majority class")
    _log_axis(ax, sorted(int(n) for n in set(table["size"])))
    ax.set(xlabel="labelled training examples (log scale)", ylabel="test accuracy %",
           title=title or "Learning curves (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.figure.tight_layout()
    return ax


def _zero_shot_line(ax, zero_shot, right):
    """The no-training answer: a solid black line, named in the legend and labelled above its right end
    (where the curves have risen past it)."""
    label = f"zero-shot: {zero_shot.method} ({zero_shot.model}, no labels, no training)"
    ax.axhline(zero_shot.accuracy, color="black", lw=1.5, label=label)
    ax.annotate(f"zero-shot, no training: {zero_shot.accuracy:.1f}%", (right, zero_shot.accuracy),
                xytext=(-2, 3), textcoords="offset points", fontsize=8, ha="right", va="bottom")


PARETO_COSTS = {"time_s": "training time (s)", "memory_mb": "peak memory added (MB)",
                "params": "trainable parameters"}  # choose.grid_points column -> axis label


def pareto(points, costs=PARETO_COSTS, title=None):
    """Accuracy % against each cost (log x), one panel per cost; the Pareto-optimal methods (no
    other is both cheaper and more accurate) are joined by a line and drawn as stars.

    points: choose.grid_points(); costs: {column: axis label}, the x-axis selector. Methods are
    named in one legend beside the panels (same colour in every panel), not on the points."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, len(costs), figsize=(4.2 * len(costs) + 1.6, 3.8), squeeze=False)
    colors = {m: f"C{i}" for i, m in enumerate(points.index)}
    for ax, (cost, label) in zip(axes[0], costs.items()):
        front = pareto_front(points, cost)
        for m, p in points.iterrows():
            ax.errorbar(p[cost], p.accuracy, yerr=p["std"], fmt="*" if m in front else "o",
                        ms=13 if m in front else 7, color=colors[m], capsize=3)
        ax.plot(points.loc[front, cost], points.loc[front, "accuracy"], "k--", lw=1)
        _log_axis(ax)
        ax.set(xlabel=f"{label}, log scale", ylabel="test accuracy %")
        ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], marker="o", ls="", color=c, label=m) for m, c in colors.items()]
    handles.append(Line2D([], [], color="k", ls="--", lw=1, label="Pareto front (stars)"))
    fig.legend(handles=handles, loc="center right", fontsize=8)
    fig.suptitle(title or "Accuracy against cost: stars are Pareto-optimal")
    fig.tight_layout(rect=(0, 0, 1 - 1.5 / fig.get_figwidth(), 1))
    return fig


def plot_confusions(confusions: dict, names):
    """One heat map per baseline ({title: (K, K) counts}): rows true label, columns predicted."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(confusions), figsize=(3 * len(confusions), 3), squeeze=False)
    for ax, (title, counts) in zip(axes[0], confusions.items()):
        counts = np.asarray(counts)
        ax.imshow(counts, cmap="Blues", vmin=0)
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, n, ha="center", va="center", color="white" if n > counts.max() / 2 else "black")
        ax.set(title=title, xticks=range(len(names)), yticks=range(len(names)), xticklabels=names,
               yticklabels=names, xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig
