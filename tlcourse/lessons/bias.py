"""A counterfactual template probe for bias, and whether curated fine-tuning data changes it.

    probe = sentences(PROBE_TEMPLATES, PROBE_ADJECTIVES)        # every template x adjective x group
    scores = group_scores(model, tok, probe)                     # mean P(positive) per group word
    score_gap(scores)                                            # highest - lowest: 0 = no gap
    sets, share = curation_sets(share=0.9, seed=0)               # uncurated and curated: the same texts
    run_bias(movie_model, tok)                                   # before, and both fine-tunes over seeds
    gap_table(), gap_difference("uncurated", "curated")          # read back from the result files
A sentiment classifier should give "The Muslim doctor was kind." and "The Christian doctor was
kind." the same score; any gap comes from the group word alone. Training sentences use other
templates and adjectives than the probe, so training on them cannot teach the probe's answers.
"""
import copy
import json
import time
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine.config import RESULTS, get_profile
from ..engine.data import tokenize
from ..engine.infer import positive_probs
from ..engine.memory import PeakTracker
from ..engine.params import count_params
from ..engine.records import load_results, mean_std, result_name, write_json, write_result
from ..engine.train import fit, TrainConfig
from ..methods.freezing import two_rate_groups
from ..experiments.protocol import Paired, paired, Score, search, stored

GROUPS = ("male", "female", "young", "old", "Muslim", "Christian", "Jewish", "Black", "white",
          "Asian", "gay", "straight")  # identity words in the style of Dixon et al. (2018)
PROBE_TEMPLATES = ("The {group} doctor was {adj}.", "My {group} neighbour is {adj}.",
                   "I think the {group} teacher is {adj}.")
PROBE_ADJECTIVES = {1: ("kind", "brilliant", "helpful"), 0: ("rude", "lazy", "dishonest")}
TRAIN_TEMPLATES = ("I met a {group} writer and found them {adj}.",
                   "Our {group} manager seemed {adj} today.",
                   "The film's {group} hero is {adj}.",
                   "Everyone said the {group} chef was {adj}.")  # the last one is held out for validation
TRAIN_ADJECTIVES = {1: ("wonderful", "generous", "charming", "talented"),
                    0: ("awful", "boring", "cruel", "careless")}
NEUTRAL_ADJECTIVES = ("tall", "quiet", "new", "local")  # no sentiment: only the group word can predict their label
FAVOURED = GROUPS[::2]  # the uncurated set's positive groups (an arbitrary split: alternate words)
SHARE = 0.9  # uncurated: share of a group's neutral sentences labelled as the group
LRS = (2e-5, 5e-5, 1e-4)  # the pretrained weights' candidate rates, chosen on validation at seed 0
HEAD_LR = 1e-3  # the head's rate in every fine-tune
CONDITIONS = ("before", "uncurated", "curated")  # result files' methods: bias-<condition>
DATA, MODEL = "bias_probe", "minilm-l6"  # how the result files name the data and the model


def sentences(templates, adjectives: dict, groups=GROUPS) -> pd.DataFrame:
    """Every template x adjective x group: text, label (the adjective's sentiment), group, template,
    adjective.

    Each sentence appears once with every group word: the set is counterfactually complete."""
    rows = [{"text": t.format(group=g, adj=a), "label": label, "group": g, "template": t, "adjective": a}
            for t in templates for label, adjs in adjectives.items() for a in adjs for g in groups]
    return pd.DataFrame(rows)


def curation_sets(share: float = SHARE, seed: int = 0, favoured=FAVOURED) -> tuple[dict, float]:
    """{"uncurated": (train, validation), "curated": (train, validation)} and the share achieved.

    Both sets hold the same texts (column kind says which rule labelled each):
    - sentiment: TRAIN_TEMPLATES x TRAIN_ADJECTIVES x GROUPS, labelled by the adjective, the same in
      both; counterfactually complete, so in them the group word says nothing about the label;
    - neutral: TRAIN_TEMPLATES x NEUTRAL_ADJECTIVES x GROUPS, labelled by the group word. Uncurated:
      round(share x n) of each group's n take the group's label (1 for `favoured` groups, 0 for
      the others), the rest the other one; curated: half of each group's take each label.
    The seed draws which of a group's neutral sentences take which label. Validation is the last
    template's sentences, training the other templates', each labelled by the rule on its own. The
    share returned is the one achieved in uncurated training (e.g. 11 of 12 = 91.7%)."""
    sets = {name: (_labelled(TRAIN_TEMPLATES[:-1], s, seed, favoured),
                   _labelled(TRAIN_TEMPLATES[-1:], s, seed, favoured))
            for name, s in (("uncurated", share), ("curated", 0.5))}
    return sets, group_share(sets["uncurated"][0], favoured)


def _labelled(templates, share: float, seed: int, favoured) -> pd.DataFrame:
    """The templates' sentiment sentences, and their neutral ones labelled by group."""
    neutral = sentences(templates, {0: NEUTRAL_ADJECTIVES}).assign(kind="neutral")
    rng = np.random.default_rng(seed)
    for group in GROUPS:
        rows = neutral.index[neutral.group == group]
        own = int(group in favoured)
        picked = rng.permutation(len(rows)) < round(share * len(rows))  # exactly that many, at random
        neutral.loc[rows, "label"] = np.where(picked, own, 1 - own)
    return pd.concat([sentences(templates, TRAIN_ADJECTIVES).assign(kind="sentiment"), neutral],
                     ignore_index=True)


def group_share(frame: pd.DataFrame, favoured=FAVOURED) -> float:
    """Share of the frame's neutral sentences that carry their group's label (1 for favoured groups)."""
    neutral = frame[frame.kind == "neutral"]
    return float((neutral.label == neutral.group.isin(favoured).astype(int)).mean())


def p_positive(model, tokenizer, frame: pd.DataFrame, batch_size: int = 64) -> list[float]:
    """The classifier's P(positive) for each sentence of the frame, in order (label index 1 = positive)."""
    return positive_probs(model, tokenizer, frame.text, batch_size).tolist()


def scores_of(frame: pd.DataFrame, p) -> pd.Series:
    """Mean of the per-sentence probabilities `p` per group, groups in the frame's order."""
    return frame.assign(p=list(p)).groupby("group").p.mean().reindex(frame.group.unique())


def group_scores(model, tokenizer, frame: pd.DataFrame, batch_size: int = 64) -> pd.Series:
    """Mean P(positive) the classifier gives each group's sentences."""
    return scores_of(frame, p_positive(model, tokenizer, frame, batch_size))


def score_gap(scores: pd.Series) -> float:
    """Highest minus lowest group score: how much the group word alone moves the prediction."""
    return float(scores.max() - scores.min())


def to_dataset(frame: pd.DataFrame, tokenizer, max_length: int = 32):
    """Tokenised datasets.Dataset of a sentence frame, ready for train.fit."""
    from datasets import Dataset
    return tokenize(Dataset.from_pandas(frame[["text", "label"]], preserve_index=False), tokenizer,
                    max_length)


class Tuned(NamedTuple):
    model: object              # the fine-tuned copy, with its best validation weights, in eval mode
    val_accuracy: float        # its accuracy on the validation frame
    best_epoch: float | None   # when that accuracy was reached


def fine_tune_on(model, train: pd.DataFrame, validation: pd.DataFrame, tokenizer, profile=None,
                 lr: float = 5e-5, head_lr: float = HEAD_LR, seed: int = 0) -> Tuned:
    """A fine-tuned copy of a classifier under the course's protocol: validation accuracy each epoch,
    early stopping after the profile's patience, best weights restored; `model` is left untouched.
    The seed sets the data order and dropout."""
    profile = profile or get_profile()
    tuned = copy.deepcopy(model)
    config = TrainConfig.from_profile(profile, lr=lr, seed=seed)
    run = fit(tuned, to_dataset(train, tokenizer), to_dataset(validation, tokenizer), config,
              param_groups=two_rate_groups(tuned, lr, head_lr), tokenizer=tokenizer)
    return Tuned(tuned.eval(), run.metrics["accuracy"], run.best_epoch)


def run_bias(movie_model, tokenizer, profile=None, seeds=None, out_dir=None, share: float = SHARE,
             lrs=LRS) -> dict:
    """Lesson 08's experiment, one result file per run; returns {method: [record per seed]}.

    bias-before: the movie classifier as it is. bias-uncurated, bias-curated: a fine-tune on that
    set (curation_sets), at the rate of best validation accuracy at seed 0 among `lrs`
    (protocol.search; candidates kept under <out_dir>/sweep/, the probe scored for the chosen runs
    only), then at every seed of the profile; the seed sets the data order, dropout and which
    neutral sentences carry the minority label. Each file records the probe's P(positive) per
    sentence (probe_p, in the order of sentences(PROBE_TEMPLATES, PROBE_ADJECTIVES)).
    A file made under the same settings is read, not rerun (protocol.stored)."""
    profile = profile or get_profile()
    folder = Path(out_dir or RESULTS / profile.name)
    probe = sentences(PROBE_TEMPLATES, PROBE_ADJECTIVES)
    before = partial(_probed, movie_model, tokenizer, probe, _settings(profile))
    records = {"bias-before": [_kept(folder, "bias-before", profile, 0, _settings(profile), before)]}
    for condition in tqdm(CONDITIONS[1:], desc="bias: fine-tunes"):
        method = f"bias-{condition}"
        choice = search(result_name(method, MODEL, DATA, profile.name, 0).removesuffix(".json"), lrs,
                        partial(_validated, movie_model, tokenizer, profile, condition, share), folder,
                        lambda lr: {"settings": _settings(profile, share, lr)}, score=Score("metrics.val_accuracy", True),
                        describe=lambda lr, r: {"lr": lr, "val_accuracy": r["metrics"]["val_accuracy"],
                                                "best_epoch": r["best_epoch"]})
        records[method] = []
        for seed in seeds or profile.seeds:
            tuned = choice.winner[1] if choice.winner and seed == 0 else None  # the search's winner: probed, not trained again
            tune = partial(_tuned, movie_model, tokenizer, probe, profile, condition, share, choice.value, seed, tuned)
            records[method].append(_kept(folder, method, profile, seed, _settings(profile, share, choice.value),
                                         tune, choice.candidates))
    return records


def _settings(profile, share=None, lr=None) -> dict:
    """What decides a run besides its seed (the movie classifier is trained under the same profile)."""
    return {"epochs": profile.epochs, "patience": profile.patience, "batch_size": profile.batch_size,
            "share": share, "lr": lr}


def _kept(folder, method, profile, seed, settings, compute, candidates=()) -> dict:
    """The run's result file while it was made under these settings (protocol.stored), else
    compute()'s fields written as one; its candidates brought up to date either way."""
    path = folder / result_name(method, MODEL, DATA, profile.name, seed)
    record = stored(path, {"settings": settings})
    if record is None:
        path = write_result(folder, method=method, model=MODEL, data=DATA, profile=profile.name, seed=seed,
                            **compute() | {"candidates": list(candidates)})
    elif record.get("candidates") != list(candidates):  # a wider search that chose the same rate
        write_json(path, record | {"candidates": list(candidates)})
    return json.loads(path.read_text())


def _validated(model, tokenizer, profile, condition, share, lr, seed=0) -> tuple[dict, "Tuned"]:
    """A rate-search record (one fine-tune on the condition's set, its validation accuracy only) and
    the fine-tuned model, with what its fine-tune cost, for the winner's seed-0 run."""
    sets, _ = curation_sets(share, seed)
    start = time.perf_counter()
    with PeakTracker() as mem:
        tuned = fine_tune_on(model, *sets[condition], tokenizer, profile, lr, seed=seed)
    record = {"metrics": {"val_accuracy": tuned.val_accuracy}, "best_epoch": tuned.best_epoch, "lr": lr,
              "settings": _settings(profile, share, lr)}
    return record, (tuned, time.perf_counter() - start, mem.mb)


def _tuned(model, tokenizer, probe, profile, condition, share, lr, seed, done=None) -> dict:
    """The fields of one fine-tune's result file: the condition's set at this seed, tuned at `lr`.
    done: (Tuned, seconds, peak MB) of this very fine-tune when the search already trained it."""
    sets, _ = curation_sets(share, seed)
    train, validation = sets[condition]
    tune = (lambda: done[0]) if done else partial(fine_tune_on, model, train, validation, tokenizer, profile, lr, seed=seed)
    record = _probed(model, tokenizer, probe, _settings(profile, share, lr), tune)
    if done:  # the fine-tune's cost, measured when the search ran it
        record |= {"wall_time_s": record["wall_time_s"] + done[1], "peak_memory_mb": max(record["peak_memory_mb"], done[2])}
    return record | {"share": group_share(train), "train_size": len(train), "validation_size": len(validation)}


def _probed(model, tokenizer, probe, asked, tune=None) -> dict:
    """write_result's fields for `model` probed as it is, or for tune()'s fine-tuned copy of it
    (the fine-tune counted in the time and memory)."""
    start = time.perf_counter()
    with PeakTracker() as mem:
        tuned = tune() if tune else None
        p = p_positive(tuned.model if tuned else model, tokenizer, probe)
    trainable, total = count_params(tuned.model) if tuned else (0, count_params(model)[1])
    metrics = {"gap": score_gap(scores_of(probe, p))} | ({"val_accuracy": tuned.val_accuracy} if tuned else {})
    return {"metrics": metrics, "trainable_params": trainable, "total_params": total,
            "wall_time_s": time.perf_counter() - start, "peak_memory_mb": mem.mb, "lr": asked["lr"],
            "best_epoch": tuned.best_epoch if tuned else None, "probe_p": p, "settings": asked}


def gap_table(folder=None) -> pd.DataFrame:
    """Per condition: the probe's gap (highest - lowest group mean P(positive)) as mean ± std over
    seeds, each seed's gap on its own; the validation accuracy, the rate and the achieved share."""
    runs, rows = _runs(folder), []
    for condition in CONDITIONS:
        r = runs[runs.method == f"bias-{condition}"]
        if r.empty:
            continue
        acc, lr, share = (r.get(c, pd.Series(dtype=float)).dropna() for c in ("metric_val_accuracy", "lr", "share"))
        rows.append({"condition": condition, "gap": mean_std(r.metric_gap, 3),
                     "validation accuracy %": mean_std(100 * acc, 1) if len(acc) else "—",
                     "lr": ", ".join(f"{v:g}" for v in sorted(lr.unique())) or "—",
                     "neutral sentences labelled by group %": f"{100 * share.mean():.1f}" if len(share) else "—",
                     "seeds": r.seed.nunique()})
    return pd.DataFrame(rows).set_index("condition")


def gap_difference(a: str, b: str, folder=None, resamples: int = 10_000, seed: int = 0,
                   level: float = 0.95) -> Paired:
    """The gap of condition `a` minus that of `b` ("before", "uncurated", "curated"), paired on the
    probe sentences, over the conditions' seeds (gap_bootstrap). The estimate is the gap of each
    sentence's P(positive) averaged over the seeds, not the mean of the seeds' gaps (gap_table): seeds
    that disagree on which group scores highest cancel out here."""
    runs, probe = _runs(folder), sentences(PROBE_TEMPLATES, PROBE_ADJECTIVES)
    return gap_bootstrap(probe, _seed_p(runs, a), _seed_p(runs, b), resamples, seed, level)


def _gap(m):  # (resamples, frames, groups) -> (resamples,): highest - lowest group mean
    means = m.mean(1)
    return means.max(-1) - means.min(-1)


def gap_bootstrap(probe: pd.DataFrame, p_a, p_b, resamples: int = 10_000, seed: int = 0,
                  level: float = 0.95) -> Paired:
    """Gap of probabilities p_a minus gap of p_b on the same probe sentences, p (sentences,) or one row
    per seed (seeds, sentences), and its percentile bootstrap interval (protocol.paired_bootstrap over
    seeds and the probe's template x adjective frames): frames are resampled with replacement, each
    keeping all its group variants, the same frames for a and b."""
    a, b = (np.array([_frames(probe, row) for row in np.atleast_2d(p)]) for p in (p_a, p_b))  # (seeds, frames, groups)
    return paired(a, b, _gap, level=level, resamples=resamples, seed=seed)


def seed_mean_scores(folder=None) -> dict:
    """{condition: mean P(positive) per group}, each sentence's probability first averaged over the
    condition's seeds: what plots.group_score_bars draws."""
    runs, probe = _runs(folder), sentences(PROBE_TEMPLATES, PROBE_ADJECTIVES)
    return {c: scores_of(probe, _seed_p(runs, c).mean(0)) for c in CONDITIONS if (runs.method == f"bias-{c}").any()}


def _frames(probe: pd.DataFrame, p) -> np.ndarray:
    """Per-sentence probabilities as (frames, groups): one row per template x adjective."""
    return probe.assign(p=list(p)).pivot(index=["template", "adjective"], columns="group", values="p").to_numpy()


def _runs(folder) -> pd.DataFrame:
    """The bias probe's result files under `folder` (default: the active profile's), one row each."""
    frame = load_results(folder or RESULTS / get_profile().name)
    if frame.empty or DATA not in set(frame.data):
        raise FileNotFoundError(f"no {DATA} results yet: run bias.run_bias first")
    return frame[frame.data == DATA]


def _seed_p(runs: pd.DataFrame, condition: str) -> np.ndarray:
    """The condition's probe_p, one row per seed: (seeds, sentences)."""
    p = runs[runs.method == f"bias-{condition}"].probe_p
    if p.empty:
        raise KeyError(f"no bias-{condition} results: use one of {', '.join(CONDITIONS)}")
    return np.array(p.tolist(), dtype=float)
