"""Every claim of CLAIMS.md with its rule written as code and a verdict computed from the result files.

    verdict(8)                      # Verdict(claim=8, estimate=-1.4..., low=..., high=..., verdict="not shown", ...)
    verdicts(RESULTS / "cpu")       # claims 1-20 in order
    claims_table(RESULTS / "cpu")   # the README's "What this course shows"
    show(7, 8)                      # a lesson's claim cell: a line or two per claim
    say(7, 8)                       # the same, as the sentence a lesson may state: its words follow the verdict
A verdict is judged on unrounded numbers: an estimate and its 95% interval from the course's one paired
statistic (protocol.paired_bootstrap over seeds and test items), against the claim's rule (CLAIMS.md,
"Verdicts"), with each seed's own difference beside it. Numbers are rounded only where they are shown,
so no display decides a verdict.
"""
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.config import get_profile, RESULTS
from ..engine.records import load_results
from ..lessons import (bias, curves, domain_adaptation, llm_basics, preference_tuning, style, translation_sft,
                       verifiable_rewards, zero_shot)
from ..experiments.method_grid import METHODS as GRID_METHODS
from ..experiments.protocol import excludes_zero, ONE_SEED, paired, paired_bootstrap, Paired, run_cost, seed_paired, seed_scores

SHOWN, NOT_SHOWN, OPPOSITE = "shown", "not shown", "opposite"
UNTESTABLE, NOT_RECORDED, NOT_RUN = "not testable at this size", "not recorded", "not run"
ORDER = (OPPOSITE, NOT_SHOWN, NOT_RECORDED, UNTESTABLE, SHOWN)  # a claim takes its parts' first verdict in this order


def judge(low: float, high: float, threshold: float, direction: str = "above", null: float | None = None) -> str:
    """An interval against a rule: "shown" when it lies wholly beyond `threshold` on the claimed side
    (`direction` "above" or "below"), "opposite" when it lies wholly on the other side of `null`, the
    no-effect line, else "not shown". null defaults to the threshold: for a claim of "no worse than a
    margin" the margin is that line. An interval touching a line does not clear it; a single
    measurement is judged as low = high."""
    sign = {"above": 1, "below": -1}[direction]
    lo, hi = sorted((sign * low, sign * high))
    null = threshold if null is None else null
    if lo > sign * threshold:
        return SHOWN
    return OPPOSITE if hi < sign * null else NOT_SHOWN


@dataclass(frozen=True)
class Rule:
    threshold: float  # the line the interval must clear
    direction: str = "above"  # the side the claim lies on
    null: float | None = None  # no-effect line for "opposite" (None: the threshold)


@dataclass(frozen=True)
class Part:
    """One measured part of a claim (claim 9 has three: accuracy share, speed, soft vs hard)."""
    what: str  # what was compared, e.g. "LoRA − full"
    estimate: float | None  # None: no number recorded
    low: float | None = None  # 95% interval; None: nothing recorded to draw one from (a time, one model)
    high: float | None = None
    unit: str = "points"
    rule: Rule | None = None
    status: str | None = None  # NOT_RECORDED or UNTESTABLE: a part the files cannot judge
    reason: str = ""  # why, for a status; or what else the number says
    fmt: str = "+.1f"  # display only
    spread: str = ""  # each seed's own difference, or that one seed left training noise unmeasured

    @property
    def verdict(self) -> str:
        if self.status:
            return self.status
        low, high = (self.estimate, self.estimate) if self.low is None else (self.low, self.high)
        return judge(low, high, self.rule.threshold, self.rule.direction, self.rule.null)

    def measured(self) -> str:
        """The estimate and interval as text, rounded here and only here."""
        if self.estimate is None:
            return "—"
        value = f"{self.estimate:{self.fmt}} {self.unit}"
        if self.low is None:
            return f"{value} (no interval)"
        spread = f"; {self.spread}" if self.spread else ""
        return f"{value} (95% interval {self.low:{self.fmt}} to {self.high:{self.fmt}}{spread})"


@dataclass(frozen=True)
class Verdict:
    claim: int
    text: str  # the claim, as CLAIMS.md words it
    expected: str  # its rule, in words
    estimate: float | None  # of the part that decided the verdict, unrounded
    low: float | None
    high: float | None
    unit: str
    verdict: str  # shown | not shown | opposite | not testable at this size | not recorded | not run
    lesson: str
    note: str  # every part's number and verdict, or why there is none
    measured: str = "—"  # the deciding part, its estimate and interval rounded for display


@dataclass(frozen=True)
class Claim:
    number: int
    text: str
    expected: str
    lesson: str
    measure: Callable  # (results frame, folder) -> list[Part]; raises NotRun when files are absent
    says: tuple = ()  # regular expressions of prose that states the claim as fact (unsupported() reads them)


class NotRun(LookupError):
    """The result files a claim reads are not there."""


CLAIMS: dict[int, Claim] = {}


def claim(number: int, text: str, expected: str, lesson: str, says: tuple = ()):
    """Register the decorated function as the measure of claim `number` (its rule sits in its body);
    `says`: how prose states the claim as fact, so a lesson's words can be held to its verdict."""
    def register(measure):
        CLAIMS[number] = Claim(number, text, expected, lesson, measure, says)
        return measure
    return register


# ---- reading result rows ----

def _rows(runs, method: str, data: str = "rotten_tomatoes", model: str | None = "minilm-l6"):
    """The result rows of one method (all its seeds); NotRun when there are none."""
    if runs.empty:
        raise NotRun("no result files")
    rows = runs[(runs.method == method) & (runs.data == data)]
    rows = rows[rows.model == model] if model else rows
    if rows.empty:
        raise NotRun(f"no {method} results on {data}")
    return rows


def _present(runs, methods, data: str = "rotten_tomatoes", model: str | None = "minilm-l6") -> list:
    """The rows of each of `methods` that has results on `data`; NotRun when none has."""
    found = []
    for method in methods:
        try:
            found.append(_rows(runs, method, data, model))
        except NotRun:
            continue  # a method not run here: the claim is read on those that were
    if not found:
        raise NotRun(f"no {' or '.join(methods)} results on {data}")
    return found


def _has_items(rows, column: str = "test_correct") -> bool:
    return column in rows and rows[column].notna().all()


def _scores(rows, column: str = "test_correct") -> np.ndarray:
    """Per-item scores of every seed of the rows: (seeds, items)."""
    return seed_scores(rows.set_index("seed"), column, sorted(rows.seed))


def _paired(a, b, column: str = "test_correct", scale: float = 100.0) -> Paired:
    """a − b on the same test items, seeds and items resampled together (protocol.seed_paired)."""
    return seed_paired(pd.concat([a.assign(method="a"), b.assign(method="b")]), "a", "b", column, scale)


def _part(what: str, paired: Paired, **fields) -> Part:
    """A part measured by a paired difference, each seed's own difference beside its interval."""
    fmt = fields.get("fmt", "+.1f")
    return Part(what, paired.estimate, paired.low, paired.high, spread=paired.spread(fmt), **fields)


def _ratio(num, den) -> Paired:
    """mean(num) / mean(den) in %, num and den (seeds, items) on the same items, seeds and items resampled
    (paired_bootstrap, over_seeds): the columns (num, den) against (0, den), whose ratio is 0, so the
    difference of the two is the ratio. A side run once stands beside every seed of the other."""
    def ratio(m):  # (..., items, 2) -> (...,)
        mean = m.mean(-2)
        return 100 * mean[..., 0] / mean[..., 1]

    num, den = np.broadcast_arrays(num, den)
    x, y = np.stack([num, den], -1), np.stack([0 * num, den], -1)  # (seeds, items, 2)
    return paired(x, y, ratio)


def _difference(runs, a: str, b: str, rule: Rule, what: str, **where) -> Part:
    """Method a − method b, accuracy points on the same test items, judged by `rule`."""
    return _part(what, _paired(_rows(runs, a, **where), _rows(runs, b, **where)), rule=rule)


# ---- the claims, each with its rule ----

@claim(1, "pretraining gives a model general language knowledge",
       "pretrained − from-scratch loss on the same held-out blocks < 0, and real − word-shuffled text < 0 "
       "(intervals)", "01",
       says=(r"pretraining gives .{0,20}general language knowledge",))
def _pretraining(runs, folder):
    row = _rows(runs, llm_basics.METHOD, data=llm_basics.DATA, model="smollm2-135m").iloc[0]
    parts = {"SmolLM2 − tiny GPT from scratch, loss per held-out block": ("block_loss_pretrained", "block_loss_scratch"),
             "real − shuffled words, SmolLM2's loss per text": ("text_loss_real", "text_loss_shuffled")}
    return [Part(what, *paired_bootstrap(row[a], row[b]), unit="nats", fmt="+.2f", rule=Rule(0, "below"),
                 spread=ONE_SEED) for what, (a, b) in parts.items()]


@claim(2, "zero-shot works but fine-tuning beats it",
       "every trained method − best zero-shot > 0 (interval)", "02, 09",
       says=(r"fine-tuning beats (zero-shot|prompting)", r"every (trained|fine-tuned) method beats zero-shot"))
def _zero_shot(runs, folder):
    best = max(_present(runs, zero_shot.METHODS, model=None), key=lambda r: r.metric_accuracy.mean())
    trained = _present(runs, [m for m in GRID_METHODS if m != "majority"])
    if not _has_items(best):
        worst = min(trained, key=lambda r: r.metric_accuracy.mean())
        gap = 100 * (worst.metric_accuracy.mean() - best.metric_accuracy.mean())
        return [Part(f"{worst.method.iloc[0]} − {best.method.iloc[0]}", gap, status=NOT_RECORDED,
                     reason="lesson 02's files keep accuracy, not each test item's correctness, so no paired "
                            "interval: rerun lesson 02 to record it")]
    parts = [_part(f"{r.method.iloc[0]} − {best.method.iloc[0]}", _paired(r, best), rule=Rule(0.0)) for r in trained]
    return [min(parts, key=lambda p: p.low)]  # every method must clear 0: the lowest interval decides


@claim(3, "frozen features + new head are cheap and decent", "probe − majority class > 0 (interval)", "03",
       says=(r"frozen features .{0,30}cheap and decent",))
def _probe(runs, folder):
    return [_difference(runs, "probe", "majority", Rule(0.0), "probe − majority")]


@claim(4, "not all layers are equal", "best − worst layer's probe on test, interval excludes 0", "03",
       says=(r"not all layers are equal", r"layers (differ|are not equal)", r"some layers'? features are better"))
def _layers(runs, folder):
    rows = _rows(runs, "layer-probe")  # best and worst layer chosen on validation, scored on test
    best, worst = int(rows.best_layer.iloc[0]), int(rows.worst_layer.iloc[0])
    return [_part(f"layer {best} − layer {worst} (best and worst on validation)",
                  _paired(rows, rows.assign(test_correct=rows.test_correct_worst)), rule=Rule(0.0))]


@claim(5, "partial fine-tuning balances cost and accuracy",
       "last 2 blocks recover ≥ 90% of full's gain over head-only (interval)", "04",
       says=(r"(top|last)( two| 2)? blocks? (buys?|recovers?|gives?) most", r"partial fine-tuning balances cost and accuracy"))
def _partial(runs, folder):
    rows = [_rows(runs, m) for m in ("last2", "head", "full")]
    seeds = sorted(set.intersection(*(set(r.seed) for r in rows)))
    last2, head, full = (seed_scores(r.set_index("seed"), "test_correct", seeds) for r in rows)  # (seeds, items)
    gain = paired_bootstrap(100 * full, 100 * head, over_seeds=True)
    if gain[1] <= 0:  # a share of a gain the interval cannot tell from 0 is unbounded
        return [Part("full − head-only", *gain, status=UNTESTABLE,
                     reason="full's gain over head-only is not told from 0, so no share of it is; "
                            "more labels (the gpu profile trains on all 8,530) would widen the gain")]
    return [_part("share of full's gain over head-only that last2 recovers", _ratio(last2 - head, full - head),
                  unit="%", rule=Rule(90.0, null=0.0), fmt=".0f")]


@claim(6, "full fine-tuning is the most accurate and most expensive",
       "full − probe ≥ 3 points, interval above 0", "05",
       says=(r"full fine-tuning is the most accurate", r"full fine-tuning beats the (frozen )?probe by (at least )?3"))
def _full(runs, folder):
    return [_difference(runs, "full", "probe", Rule(3.0, null=0.0), "full − probe")]


@claim(7, "gradual unfreezing / discriminative LRs help on small data", "ULMFiT − full > −1 point (interval)", "04",
       says=(r"(gradual unfreezing|discriminative (learning )?rates|ULMFiT)[^.]{0,40}\b(helps?|beats?|is better)",))
def _ulmfit(runs, folder):
    return [_difference(runs, "ulmfit", "full", Rule(-1.0), "ULMFiT − full")]


@claim(8, "parameter-efficient tuning nearly matches full",
       "LoRA − full > −1 point (interval), LoRA's targets (q/v or every linear layer) chosen on validation", "06",
       says=(r"LoRA (nearly |almost )?match(es)? full", r"within (1|one) point of full"))
def _lora(runs, folder):
    variants = _present(runs, ["lora", "lora-all"])
    chosen = max(variants, key=lambda r: r.val_accuracy.mean())  # the first of equals: q/v, the smaller
    others = [f"{r.method.iloc[0]} − full {_part('', _paired(r, _rows(runs, 'full'))).measured()}"
              for r in variants if r is not chosen]
    name = chosen.method.iloc[0]
    reason = f"{name} has the higher validation accuracy" + (f"; {', '.join(others)}" if others else "")
    return [replace(_difference(runs, name, "full", Rule(-1.0), f"{name} − full"), reason=reason)]


@claim(9, "distillation yields a small efficient student",
       "student/teacher accuracy ≥ 95% (interval), ≥ 2× faster, soft − hard targets > 0 (interval)", "07",
       says=(r"distillation yields a small efficient student", r"student (keeps|retains|reaches) (at least )?95"))
def _distillation(runs, folder):
    soft, hard, teacher = (_rows(runs, m) for m in ("kd-student-soft", "kd-student-hard", "kd-teacher"))
    speed = soft.inference_examples_per_s.median() / teacher.inference_examples_per_s.median()
    return [_part("student/teacher accuracy", _ratio(_scores(soft), _scores(teacher)), unit="%",
                  rule=Rule(95.0), fmt=".2f"),
            Part("student/teacher speed", speed, unit="×", rule=Rule(2.0, null=1.0), fmt=".1f"),
            _part("soft − hard targets", _paired(soft, hard), rule=Rule(0.0))]


@claim(10, "domain shift hurts; domain adaptation fixes it",
       "movie − drug classifier on drug reviews < 0 (interval), domain perplexity −20% or lower (interval), "
       "adapted − published encoder > 0 (interval)", "08",
       says=(r"domain adaptation (fixes|repairs|raises)", r"adapted encoder (beats|is better)"))
def _domain(runs, folder):
    if runs.empty:
        raise NotRun("no result files")
    adapted = runs[(runs.method == "full") & runs.model.str.contains("-tapt-")]
    if adapted.empty:
        raise NotRun("no full fine-tuning of an adapted (TAPT) encoder")
    data = adapted.data.iloc[0]
    published = _rows(runs, "full", data=data)
    shift = _rows(runs, domain_adaptation.SHIFT, data=data)
    dapt = _rows(runs, domain_adaptation.DAPT, data="bbc_business", model="smollm2-135m").iloc[0]
    return [_part("movie − drug-review classifier, same drug test reviews and length", _paired(shift, published),
                  rule=Rule(0.0, "below")),
            Part("business-news perplexity after − before continued pretraining",
                 *domain_adaptation.perplexity_change(dapt, "business"), unit="%", rule=Rule(-20.0, "below", 0.0)),
            _part("adapted − published encoder", _paired(_rows(runs, "full", data=data, model=adapted.model.iloc[0]),
                                                         published), rule=Rule(0.0))]


@claim(11, "fine-tuning on narrow data can forget",
       "general-news loss after − before the Hamlet fine-tune > 0 (interval over held-out news blocks)", "06, 10",
       says=(r"fine-tuning on narrow data (can )?forgets?",))
def _forgetting(runs, folder):
    _rows(runs, style.METHOD, data=style.DATA, model=None)
    news = style.style_differences(folder)["news loss (nats per token)"]
    reason = ""
    tuned = runs[runs.method.isin(list(translation_sft.SFT_METHODS)) & (runs.data == "bible_fr_en")]
    before = runs[(runs.method == "zeroshot") & (runs.data == "bible_fr_en")]
    if "metric_news_ppl" in runs and not tuned.empty and not before.empty:
        base = before.metric_news_ppl.dropna().iloc[0]
        changes = tuned.dropna(subset=["metric_news_ppl"]).groupby("method").metric_news_ppl.first()
        reason = "lesson 10, one model per fine-tune, news perplexity: " + ", ".join(
            f"{m} {100 * (v / base - 1):+.1f}%" for m, v in changes.items())
    return [_part("Hamlet LoRA, news loss after − before", news, unit="nats", fmt="+.3f", rule=Rule(0.0),
                  reason=reason)]


@claim(12, "fine-tuning specialises generation (poems, code)",
       "held-out style perplexity falls and the style measure moves, both beyond seed noise", "06",
       says=(r"fine-tuning specialises generation",))
def _style(runs, folder):
    _rows(runs, style.METHOD, data=style.DATA, model=None)
    diffs = style.style_differences(folder)
    rules = {"style loss (nats per token)": (Rule(0.0, "below"), "nats"),
             "Early Modern forms per 1,000 words": (Rule(0.0), "per 1,000 words"),
             "samples in the play's layout (points)": (Rule(0.0), "points")}
    news = diffs["news loss (nats per token)"]
    return [_part(f"after − before, {what}", diffs[what], unit=unit, rule=rule, fmt="+.2f",
                  reason=f"news loss after − before {news.estimate:+.3f} ({news.low:+.3f} to {news.high:+.3f})"
                  if what.startswith("style") else "") for what, (rule, unit) in rules.items()]


@claim(13, "curated fine-tuning can reduce bias", "gap after uncurated − after curated data > 0 (interval)", "08",
       says=(r"curated (data|fine-tuning) (can )?reduces? (the )?bias",))
def _bias(runs, folder):
    for condition in ("uncurated", "curated"):
        _rows(runs, f"bias-{condition}", data=bias.DATA)
    return [_part("gap uncurated − gap curated", bias.gap_difference("uncurated", "curated", folder),
                  unit="P(positive)", rule=Rule(0.0), fmt="+.3f")]


@claim(14, "little data favours transfer; more data favours fine-tuning",
       "probe − best fine-tuned > 0 at the smallest size, best fine-tuned − probe > 0 at the largest (intervals)",
       "09",
       says=(r"little data favours transfer", r"the curves cross (at|near|between|before)"))
def _curves(runs, folder):
    points = _curve_points(runs)
    small, large = min(points), max(points)
    probe_small, tuned_small = _probe_and_best(points[small])
    probe_large, tuned_large = _probe_and_best(points[large])
    return [_part(f"probe − {tuned_small.method.iloc[0]} at {small} labels", _paired(probe_small, tuned_small),
                  rule=Rule(0.0)),
            _part(f"{tuned_large.method.iloc[0]} − probe at {large} labels", _paired(tuned_large, probe_large),
                  rule=Rule(0.0))]


def _curve_points(runs) -> dict:
    """{labelled-set size: {curve method: its rows}} of lesson 09's curves (method grid at the top size)."""
    if runs.empty or "train_size" not in runs:
        raise NotRun("no learning-curve results")
    rows = curves.curve_rows(runs)  # method: the curve's method, "probe-n16" -> "probe"
    points = {int(n): dict(list(group.groupby("method"))) for n, group in rows.groupby("size")}
    points = {n: p for n, p in points.items() if "probe" in p and len(p) > 1}
    if len(points) < 2:
        raise NotRun("fewer than two labelled-set sizes with the probe and a fine-tuned method")
    return points


def _probe_and_best(point: dict):
    """The probe's rows and the fine-tuned method's with the highest mean accuracy, at one size."""
    tuned = [r for m, r in point.items() if m != "probe"]
    return point["probe"], max(tuned, key=lambda r: r.metric_accuracy.mean())


@claim(15, "transfer learning is cheaper in compute", "full fine-tuning's time / the probe's ≥ 4", "03, 05",
       says=(r"transfer learning is cheaper in compute",))
def _cost(runs, folder):
    (full, _), (probe, _) = run_cost(_rows(runs, "full")), run_cost(_rows(runs, "probe"))  # medians, searches left out
    return [Part("full / probe wall time", full / probe, unit="×",
                 rule=Rule(4.0, null=1.0), fmt=".1f")]


@claim(16, "fine-tuning specialises an LLM for a task (French→English)",
       "SFT (the fine-tune with the lowest validation loss) − 3-shot prompting, chrF > 0 (interval)", "10",
       says=(r"fine-tuning specialises an LLM",))
def _translation(runs, folder):
    tuned = _present(runs, translation_sft.SFT_METHODS, data="bible_fr_en", model=None)
    sft = min(tuned, key=lambda r: r.metric_val_loss.mean()).method.iloc[0]  # every val loss is on the answers
    _rows(runs, "fewshot-3", data="bible_fr_en", model=None)
    return [_part(f"{sft} − fewshot-3", translation_sft.compare(folder, sft, "fewshot-3"), unit="chrF",
                  rule=Rule(0.0), reason=f"{sft} has the lowest validation loss of the fine-tunes")]


@claim(17, "the loss belongs on the answer, not the prompt",
       "answer-only − every-token loss chrF: which wins, or cannot tell", "10",
       says=(r"(answer-only|every-token) loss (wins|is better)", r"the loss belongs on the answer"))
def _answer_loss(runs, folder):
    for m in ("sft-lora-answer", "sft-lora-every"):
        _rows(runs, m, data="bible_fr_en", model=None)
    diff = translation_sft.compare(folder, "sft-lora-answer", "sft-lora-every")
    tell = "" if excludes_zero(diff.low, diff.high) else "cannot tell which loss wins at this size"
    return [_part("answer-only − every-token loss", diff, unit="chrF", rule=Rule(0.0), reason=tell)]


@claim(18, "domain shift hits generation too; a little in-domain data repairs it",
       "the Bible model writes Bible words into interface strings more than the pretrained model "
       "(interval > 0); in-domain pairs raise chrF > 0 (interval)", "10",
       says=(r"a little in-domain data repairs",))
def _generation_shift(runs, folder):
    start = translation_sft.domain_method(0)
    base, home = _rows(runs, start, data="jupyter_fr_en", model=None), \
        _rows(runs, translation_sft.DOMAIN_BASE, data="bible_fr_en", model=None)
    tuned = runs[runs.method.str.startswith(f"{start}-n") & (runs.data == "jupyter_fr_en")]
    if tuned.empty:
        raise NotRun("no run with in-domain pairs")
    most = tuned.loc[tuned.in_domain_pairs.idxmax()]
    same_seed = home[home.seed == base.seed.iloc[0]].metric_chrf.iloc[0]
    shift = base.metric_chrf.iloc[0] - same_seed
    shares = translation_sft.bible_word_shares(folder, [start, "zeroshot"])
    if len(shares) < 2:
        raise NotRun("no zero-shot run on interface strings")
    return [Part(f"{start} − zeroshot, interface translations with a Bible word the reference lacks",
                 *paired_bootstrap(*shares.values()), unit="points", rule=Rule(0.0), spread=ONE_SEED,
                 reason=f"its chrF on interface strings − on Bible verses: {shift:+.1f}, on different sentences, "
                        "so no interval"),
            _part(f"{most.method} − {start} on interface strings", translation_sft.compare(
                folder, most.method, start, data="jupyter_fr_en"), unit="chrF", rule=Rule(0.0))]


@claim(19, "preference tuning steers what an LLM prefers, at a cost",
       "every DPO run − before, judged-positive share > 0 (interval); drift measured", "11",
       says=(r"preference tuning steers", r"DPO (raises|steers)"))
def _preference(runs, folder):
    data, before = preference_tuning.DATA, _rows(runs, "before", data=preference_tuning.DATA, model=None)
    parts = []
    for method in preference_tuning.BETAS:
        after = _rows(runs, method, data=data, model=None)
        drift = (f"news perplexity {before.metric_news_ppl.mean():.1f} → {after.metric_news_ppl.mean():.1f}, "
                 f"distinct-2 {before.metric_distinct_2.mean():.2f} → {after.metric_distinct_2.mean():.2f}")
        parts.append(_part(f"{method} − before", preference_tuning.compare(folder, method, "before"),
                           unit="points judged positive", rule=Rule(0.0), reason=drift))
    return parts


@claim(20, "a reward a program can check teaches more than SFT on the model's own correct answers",
       "GRPO − SFT on own correct samples, test accuracy > 0 (interval); format share and strict accuracy beside it",
       "12",
       says=(r"GRPO (beats|teaches more|wins|is better)", r"a reward a program can check teaches more"))
def _checkable(runs, folder):
    data = verifiable_rewards.DATA
    _rows(runs, "sft-own", data=data, model=None)
    parts = []
    for method in ("grpo", "grpo-kl"):
        _rows(runs, method, data=data, model=None)
        beside = {name: verifiable_rewards.compare(folder, method, "sft-own", column)
                  for name, column in (("format share", "test_format"), ("right and in format", "test_strict"))}
        parts.append(_part(f"{method} − sft-own", verifiable_rewards.compare(folder, method, "sft-own"),
                           unit="points of accuracy", rule=Rule(0.0),
                           reason="; ".join(f"{name} {_beside(d)}" for name, d in beside.items())))
    return parts


def _beside(d: Paired) -> str:
    """A difference shown beside a verdict; one that is 0 on every item and seed says so in words."""
    if d.low == d.high == 0:
        return "0 on every question of every seed, for both"
    return f"{d.estimate:+.1f} points ({d.low:+.1f} to {d.high:+.1f})"


# ---- verdicts ----

def _results(folder) -> pd.DataFrame:
    return load_results(folder) if Path(folder).exists() else pd.DataFrame()


def _verdict(c: Claim, runs, folder) -> Verdict:
    """Claim c judged on the results frame `runs` (read from `folder`)."""
    try:
        parts = c.measure(runs, folder)
    except NotRun as missing:
        note = f"not run: run lesson {c.lesson} or `make results` ({missing} under results/{Path(folder).name}/)"
        return Verdict(c.number, c.text, c.expected, None, None, None, "", NOT_RUN, c.lesson, note)
    decides = min(parts, key=lambda p: ORDER.index(p.verdict))
    note = "; ".join(f"{p.what}: {p.measured()}, {p.verdict}" + (f" ({p.reason})" if p.reason else "") for p in parts)
    measured = "—" if decides.estimate is None else f"{decides.what}: {decides.measured()}"
    return Verdict(c.number, c.text, c.expected, decides.estimate, decides.low, decides.high, decides.unit,
                   decides.verdict, c.lesson, note, measured)


def verdict(number: int, folder=RESULTS / "cpu") -> Verdict:
    """Claim `number`'s verdict from the result files under `folder`."""
    return _verdict(CLAIMS[number], _results(folder), folder)


def verdicts(folder=RESULTS / "cpu") -> list[Verdict]:
    """Every claim's verdict, in order, the result files read once."""
    runs = _results(folder)
    return [_verdict(CLAIMS[n], runs, folder) for n in sorted(CLAIMS)]


def claims_table(folder=RESULTS / "cpu") -> pd.DataFrame:
    """One row per claim: the claim, its rule, what was measured (rounded for display), the verdict, the lesson."""
    return pd.DataFrame([{"claim": f"{v.claim}. {v.text}", "expected": v.expected, "measured": v.measured,
                          "verdict": v.verdict, "lesson": v.lesson} for v in verdicts(folder)])


def show(*numbers: int, folder=None) -> None:
    """Print the verdicts of the claims `numbers` (a lesson's claim cell), from the active profile's
    results by default."""
    folder = Path(folder or RESULTS / get_profile().name)
    runs = _results(folder)
    for n in numbers:
        v = _verdict(CLAIMS[n], runs, folder)
        print(f"Claim {n}, {v.text}: {v.verdict.upper()} (rule: {v.expected}; {folder.name} profile)")
        print(f"    {v.note}")


# ---- words bound to verdicts ----

def sentence(v: Verdict, words: str | None = None) -> str:
    """The sentence a lesson may state about a claim, its framing set by the verdict: `words` (default:
    the claim's own text) said as fact only when shown; otherwise said to be not shown, the opposite,
    or not yet testable, with the numbers that decide it."""
    words = words or v.text
    if v.verdict == SHOWN:
        return f"**Shown here: {words}.** {v.measured}."
    if v.verdict == NOT_SHOWN:
        return f"**Not shown at this size: “{words}”.** {v.measured}; the rule ({v.expected}) does not hold."
    if v.verdict == OPPOSITE:
        return f"**The opposite of “{words}” showed here.** {v.measured}."
    return f"**No verdict on “{words}” ({v.verdict}).** {v.note}."


def say(number: int, words: str | None = None, folder=None) -> None:
    """Display claim `number`'s sentence (sentence()) from the active profile's results: the cell a lesson
    uses where its summary, a title or an expectation states the claim's direction."""
    folder = Path(folder or RESULTS / get_profile().name)
    text = sentence(_verdict(CLAIMS[number], _results(folder), folder), words)
    try:
        from IPython import get_ipython
        from IPython.display import display, Markdown
    except ImportError:
        get_ipython = lambda: None  # noqa: E731  (IPython absent: plain text)
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))


def unsupported(markdown: str, judged: dict) -> list[tuple[int, str]]:
    """(claim, sentence) for each sentence of `markdown` that states as fact a claim whose verdict in
    `judged` ({claim: verdict}, from verdicts()) is not shown; questions and quoted text are not statements."""
    import re
    found = []
    text = re.sub(r"[“\"][^”\"]*[”\"]", "", markdown)  # quotations
    text = re.sub(r"(?m)^\s*\|.*$", "", text)  # tables: the course's claim lists quote CLAIMS.md
    for part in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        if part.rstrip().endswith("?"):
            continue
        found += [(n, part.strip()) for n, c in CLAIMS.items() if judged.get(n) != SHOWN
                  and any(re.search(p, part, re.IGNORECASE) for p in c.says)]
    return found
