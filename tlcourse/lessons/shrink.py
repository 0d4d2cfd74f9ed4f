"""Lesson 13's experiments (issue 38): shrink, merge, ship. SmolLM2 translating French Bible verses to English
(lesson 10's task) with its weights in 16, 8 and 4 bits; LoRA against QLoRA; merged adapters; WiSE-FT.

    run_pilot()            # each weight format's cost, and a LoRA and a QLoRA fit, on validation only
    run_arm("qlora", 0)    # a fine-tune at the rate chosen on validation, scored on the test verses
    run_merge()            # LoRA's adapters folded in: the same translations, a plain safetensors model
    run_interpolation()    # WiSE-FT over the sizes' alphas and a soup of the seeds, task against news loss
A result file is read instead of rerun while it stands for the run asked now (protocol.stored).
"""
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import get_profile, RESULTS, RUNS
from ..engine.device import seed_everything
from ..engine.loaders import load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.records import result_name, write_json, write_result
from ..experiments.protocol import LOSS, search_fields, stored, VERSION, widening_search
from ..methods.lm import news_loss
from ..methods.interpolate import interpolated, max_logit_gap, souped
from ..methods.lora import add_lora, ALL_LINEAR, LLM_DROPOUT, load_adapter, merge, save_adapter
from ..methods.quantise import compute_dtype, FORMATS, load_quantised, qlora, weights_mb
from ..methods.sft import encode_pairs, fit_sft, SFTSettings
from ..methods.translate import corpus_scores, sentence_chrf, translate, translation_pairs

MODEL = "smollm2-135m"
DATA = "bible_fr_en"
GAIN_KEPT = 0.9  # the alpha chosen on validation is the smallest keeping this share of the fine-tune's chrF gain
ARMS = {  # fine-tune -> what it trains (LoRA on every linear layer of the blocks, loss on the answer)
    "lora": "LoRA adapters beside the frozen 16-bit model (lesson 10's recipe)",
    "qlora": "the same adapters beside the frozen model in 4-bit NF4 (QLoRA)",
}


@dataclass(frozen=True)
class ShrinkSizes:
    max_words: int  # only pairs whose English has at most this many words (short verses: CPU time)
    train_pairs: int  # Bible pairs per fine-tune, drawn anew for each seed
    val_pairs: int | None  # validation pairs: the pilot, each rate's answer loss (None: all)
    test_pairs: int | None  # fixed test pairs, the same for every arm and seed (None: all)
    epochs: int  # passes over the training pairs
    batch_size: int  # chats per optimizer step
    lora_r: int  # LoRA rank (LoRA and QLoRA alike)
    lrs: tuple  # the rate grid each arm searches at the first seed (widened past an edge), by validation loss
    seeds: tuple  # seeds of each arm: training pairs drawn, adapters' start, order
    alphas: tuple  # WiSE-FT's weights of the fine-tune, ascending from 0 (the base model) to 1 (the fine-tune)
    gen_batch: int  # sentences per generation batch
    news_blocks: int  # general-news blocks (the profile's lm_block_size tokens): what a format costs off the task
    pilot_pairs: int  # training pairs of the pilot's LoRA and QLoRA fits
    pilot_epochs: int  # the pilot fits' epochs
    pilot_lr: float  # the pilot fits' rate


SIZES = {
    "smoke": ShrinkSizes(max_words=12, train_pairs=4, val_pairs=2, test_pairs=3, epochs=1, batch_size=4, lora_r=8,
                         lrs=(1e-3,), seeds=(0, 1), alphas=(0.0, 0.5, 1.0), gen_batch=4, news_blocks=1, pilot_pairs=4, pilot_epochs=1, pilot_lr=1e-3),
    "cpu": ShrinkSizes(max_words=12, train_pairs=400, val_pairs=None, test_pairs=None, epochs=2, batch_size=8,
                       lora_r=16, lrs=(3e-4, 1e-3, 3e-3), seeds=(0, 1, 2),
                       alphas=(0.0, 0.25, 0.5, 0.75, 1.0), gen_batch=40, news_blocks=8, pilot_pairs=200, pilot_epochs=2, pilot_lr=1e-3),
    "gpu": ShrinkSizes(max_words=30, train_pairs=4000, val_pairs=200, test_pairs=500, epochs=2, batch_size=16,
                       lora_r=16, lrs=(1e-4, 3e-4, 1e-3), seeds=(0, 1, 2),
                       alphas=(0.0, 0.25, 0.5, 0.75, 1.0), gen_batch=64, news_blocks=32, pilot_pairs=2000, pilot_epochs=2, pilot_lr=1e-3),
}


@reads.size_table
def shrink_sizes(profile: str) -> ShrinkSizes:
    return SIZES[profile]


def computes_here(fmt: str) -> bool:
    """Whether `fmt` is measured for quality and speed here: bf16 only where the hardware computes it (elsewhere
    it runs tens of times slower, and the course computes in fp32); every format is measured for memory."""
    return fmt != "bf16" or compute_dtype() == torch.bfloat16


def format_cost(fmt: str, tokenizer, val, sizes: ShrinkSizes, profile) -> dict:
    """SmolLM2 as it ships, its Linear layers in `fmt`: memory and load time; where it computes here
    (computes_here), validation chrF (corpus and per verse, for paired differences), seconds per verse and
    general-news loss."""
    start = time.perf_counter()
    model = load_quantised(MODEL, fmt)
    cost = {"weights_mb": weights_mb(model), "load_s": time.perf_counter() - start}
    if not computes_here(fmt):
        return cost | {"skipped": "this CPU has no native bf16 (AVX512-BF16 or AMX): memory only"}
    out = translate(model, tokenizer, val.source, val.target, batch_size=sizes.gen_batch)
    return cost | {"val_chrf": corpus_scores(out.hypotheses, val.target)["chrf"],
                   "val_sentence_chrf": sentence_chrf(out.hypotheses, val.target),
                   "seconds_per_sentence": out.seconds_per_sentence,
                   "news_loss": news_loss(model, tokenizer, profile.lm_block_size, sizes.news_blocks)}


def arm_model(arm: str, sizes: ShrinkSizes, seed: int):
    """A fresh SmolLM2 with seeded LoRA adapters on every linear layer: over 16-bit weights (lora) or 4-bit (qlora)."""
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; use one of {', '.join(ARMS)}")
    seed_everything(seed)
    lora = dict(r=sizes.lora_r, target_modules=ALL_LINEAR, dropout=LLM_DROPOUT)
    return add_lora(load_model(MODEL), **lora) if arm == "lora" else qlora(load_quantised(MODEL, "nf4"), **lora)


def pilot_fit(arm: str, tokenizer, pairs, sizes: ShrinkSizes) -> dict:
    """One fit of `arm` on the pilot's pairs at the pilot's rate (seed 0): time per step, peak memory the load
    and fit add, weights in memory, validation answer loss and chrF of the weights kept."""
    train = encode_pairs(tokenizer, pairs["train"].source, pairs["train"].target)
    val = pairs["validation"]
    with PeakTracker() as mem:
        model = arm_model(arm, sizes, 0)
        run = fit_sft(model, train, encode_pairs(tokenizer, val.source, val.target), tokenizer,
                      SFTSettings(lr=sizes.pilot_lr, epochs=sizes.pilot_epochs, batch_size=sizes.batch_size))
    out = translate(run.model, tokenizer, val.source, val.target, batch_size=sizes.gen_batch)
    return {"ms_per_step": 1000 * run.result.train_time_s / run.result.steps, "steps": run.result.steps,
            "peak_mb": mem.mb, "weights_mb": weights_mb(run.model), "val_loss": run.val_loss,
            "val_chrf": corpus_scores(out.hypotheses, val.target)["chrf"], "seconds": run.seconds}


def pilot_file(profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / "pilot" / f"shrink__{MODEL}__{DATA}.json"


def pilot_asked(sizes: ShrinkSizes) -> dict:
    """What a stored pilot must have been made from (protocol.stored)."""
    return {"sizes": asdict(sizes), "formats": list(FORMATS), "arms": list(ARMS), "protocol": VERSION}


def run_pilot(profile=None, out_dir=None) -> dict:
    """Sizing before any test verse is scored: each weight format of the model as it ships (format_cost) and one
    LoRA and one QLoRA fit (pilot_fit), on validation. One JSON under the results folder's pilot/."""
    profile = profile or get_profile()
    sizes = shrink_sizes(profile.name)
    path = pilot_file(profile, out_dir)
    asked = pilot_asked(sizes)
    if record := stored(path, asked):
        return record
    tokenizer = load_tokenizer(MODEL)
    pairs = translation_pairs(DATA, sizes, 0)
    pairs["train"] = pairs["train"].head(sizes.pilot_pairs)
    formats = {fmt: format_cost(fmt, tokenizer, pairs["validation"], sizes, profile)
               for fmt in tqdm(FORMATS, desc="pilot: weight formats")}
    fits = {arm: pilot_fit(arm, tokenizer, pairs, sizes) for arm in tqdm(ARMS, desc="pilot: LoRA and QLoRA")}
    return json.loads(write_json(path, asked | {"format_costs": formats, "fits": fits}).read_text())


def asked(sizes: ShrinkSizes) -> dict:
    """What a stored fine-tune must have been made from (protocol.stored)."""
    return {"sizes": asdict(sizes), "protocol": VERSION}


def result_file(arm: str, seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(arm, MODEL, DATA, profile.name, seed)


def adapter_folder(arm: str, seed: int, profile) -> Path:
    """Where a fine-tune's adapters are saved: the merging and interpolation runs start from them."""
    return RUNS / "13_shrink" / profile.name / f"{arm}-seed{seed}"


def fit_arm(arm: str, lr: float, seed: int, sizes: ShrinkSizes, tokenizer) -> tuple:
    """One fit of `arm` on the seed's training pairs, its weights of lowest validation loss kept: (its
    validation record with time per step and the peak memory its load and fit add, methods.sft.SFTRun)."""
    pairs = translation_pairs(DATA, sizes, seed)
    train = encode_pairs(tokenizer, pairs["train"].source, pairs["train"].target)
    val = encode_pairs(tokenizer, pairs["validation"].source, pairs["validation"].target)
    with PeakTracker() as mem:
        run = fit_sft(arm_model(arm, sizes, seed), train, val, tokenizer,
                      SFTSettings(lr=lr, epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed))
    return {"val_loss": run.val_loss, "ms_per_step": 1000 * run.result.train_time_s / run.result.steps,
            "peak_mb": mem.mb, "train_time_s": run.seconds}, run


def choose_rate(arm: str, profile, tokenizer, out_dir=None):
    """The arm's rate by validation answer loss at the first seed (protocol.widening_search over sizes.lrs)."""
    sizes = shrink_sizes(profile.name)
    return widening_search(result_file(arm, sizes.seeds[0], profile).stem, sizes.lrs,
                           lambda lr: fit_arm(arm, lr, sizes.seeds[0], sizes, tokenizer),
                           Path(out_dir or RESULTS / profile.name), lambda lr: asked(sizes) | {"lr": lr}, score=LOSS,
                           describe=lambda lr, r: {"lr": lr, "val_loss": r["val_loss"]})


def run_arm(arm: str, seed: int = 0, profile=None, out_dir=None) -> dict:
    """A fine-tune (ARMS) at the rate chosen on validation (the first seed's winner is not trained again), its
    adapters saved, scored once on the fixed test verses: chrF and BLEU, each verse's chrF (for paired
    differences) and translation, time per step, peak memory, weights in memory."""
    profile = profile or get_profile()
    sizes, path = shrink_sizes(profile.name), result_file(arm, seed, profile, out_dir)
    if record := stored(path, asked(sizes)):
        return record
    tokenizer = load_tokenizer(MODEL)
    choice = choose_rate(arm, profile, tokenizer, out_dir)
    fitted, run = choice.winner if choice.winner and seed == sizes.seeds[0] else fit_arm(
        arm, choice.value, seed, sizes, tokenizer)
    test = translation_pairs(DATA, sizes, seed)["test"]
    out = translate(run.model, tokenizer, test.source, test.target, batch_size=sizes.gen_batch)
    metrics = corpus_scores(out.hypotheses, test.target) | {
        "val_loss": run.val_loss, "ms_per_step": fitted["ms_per_step"], "weights_mb": weights_mb(run.model)}
    write_result(path.parent, method=arm, model=MODEL, data=DATA, profile=profile.name, seed=seed, metrics=metrics,
                 trainable_params=run.result.trainable_params, total_params=run.result.total_params,
                 wall_time_s=fitted["train_time_s"] + out.seconds, peak_memory_mb=fitted["peak_mb"],
                 checkpoint_size_mb=save_adapter(run.model, adapter_folder(arm, seed, profile)), lr=choice.value,
                 candidates=choice.candidates, **search_fields(choice),
                 test_sentence_chrf=sentence_chrf(out.hypotheses, test.target), test_hypotheses=out.hypotheses,
                 **asked(sizes))
    return stored(path, asked(sizes))


def tuned(arm: str, seed: int, profile):
    """SmolLM2 with the saved adapters of `arm` at `seed` (run_arm), unmerged."""
    if not (folder := adapter_folder(arm, seed, profile)).exists():
        raise FileNotFoundError(f"no adapters at runs/{folder.relative_to(RUNS)}: run run_arm({arm!r}, {seed}) first")
    return load_adapter(load_model(MODEL), folder).eval()


def run_merge(profile=None, out_dir=None) -> dict:
    """LoRA's first-seed adapters folded into the weights: the largest logit gap to the unmerged model on the
    validation chats, whether every translation is the same, seconds per verse both ways, and the merged
    model saved as safetensors and loaded again (its gap to the merged one)."""
    profile = profile or get_profile()
    sizes = shrink_sizes(profile.name)
    path = Path(out_dir or RESULTS / profile.name) / f"merge__{MODEL}__{DATA}.json"
    if record := stored(path, asked(sizes)):
        return record
    tokenizer, val = load_tokenizer(MODEL), translation_pairs(DATA, sizes, 0)["validation"]
    unmerged = tuned("lora", sizes.seeds[0], profile)
    ids = torch.tensor([encode_pairs(tokenizer, val.source[:1], val.target[:1])[0]["input_ids"]])  # (1, T)
    before = translate(unmerged, tokenizer, val.source, val.target, batch_size=sizes.gen_batch)
    merged = merge(tuned("lora", sizes.seeds[0], profile))
    after = translate(merged, tokenizer, val.source, val.target, batch_size=sizes.gen_batch)
    folder = RUNS / "13_shrink" / profile.name / "lora-merged"
    merged.save_pretrained(folder, safe_serialization=True)
    again = load_model(str(folder), task="causal-lm").eval()
    record = {"logit_gap": max_logit_gap(unmerged, merged, ids), "reload_gap": max_logit_gap(merged, again, ids),
              "same_translations": sum(a == b for a, b in zip(before.hypotheses, after.hypotheses)),
              "verses": len(val), "unmerged_s_per_verse": before.seconds_per_sentence,
              "merged_s_per_verse": after.seconds_per_sentence,
              "merged_mb": sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 2**20}
    return json.loads(write_json(path, record | asked(sizes)).read_text())


def scored(model, tokenizer, pairs, sizes: ShrinkSizes, profile) -> dict:
    """A model's chrF on `pairs` (corpus and per verse) and its general-news loss."""
    out = translate(model, tokenizer, pairs.source, pairs.target, batch_size=sizes.gen_batch)
    return {"chrf": corpus_scores(out.hypotheses, pairs.target)["chrf"],
            "sentence_chrf": sentence_chrf(out.hypotheses, pairs.target),
            "news_loss": news_loss(model, tokenizer, profile.lm_block_size, sizes.news_blocks)}


def choose_alpha(curves: dict) -> float:
    """The smallest alpha of the curves whose validation chrF gain over the base (mean over seeds) is at least
    GAIN_KEPT of the fine-tune's (alpha 1): the rule, fixed before any run, that the test then checks."""
    alphas = [point["alpha"] for point in next(iter(curves.values()))]
    mean = {a: np.mean([point["chrf"] for c in curves.values() for point in c if point["alpha"] == a]) for a in alphas}
    return min(a for a in alphas if mean[a] - mean[0.0] >= GAIN_KEPT * (mean[1.0] - mean[0.0]))


def run_interpolation(profile=None, out_dir=None) -> dict:
    """WiSE-FT for each LoRA seed: (1 - alpha) base + alpha fine-tune for the sizes' alphas on validation (chrF,
    news loss); alpha chosen there (choose_alpha); then the test verses scored once for the base, each seed at
    the chosen alpha and at 1, the soup of the seeds' merged fine-tunes, and the seed best on validation."""
    profile = profile or get_profile()
    sizes = shrink_sizes(profile.name)
    path = Path(out_dir or RESULTS / profile.name) / f"interpolation__{MODEL}__{DATA}.json"
    if record := stored(path, asked(sizes)):
        return record
    tokenizer, pairs, base = load_tokenizer(MODEL), translation_pairs(DATA, sizes, 0), load_model(MODEL).eval()
    fine = {seed: merge(tuned("lora", seed, profile)) for seed in sizes.seeds}
    score = lambda model, split: scored(model, tokenizer, pairs[split], sizes, profile)
    curves = {seed: [{"alpha": a} | score(interpolated(base, model, a), "validation")
                     for a in tqdm(sizes.alphas, desc=f"WiSE-FT on validation, seed {seed}", leave=False)]
              for seed, model in fine.items()}
    alpha = choose_alpha(curves)
    test = {"base": score(base, "test"), "seeds": {str(seed): {"chosen": score(interpolated(base, model, alpha), "test"),
                                                               "fine-tune": score(model, "test")}
                                                   for seed, model in fine.items()}}
    if len(fine) > 1:
        soup, best = souped(list(fine.values())), max(fine, key=lambda s: curves[s][-1]["chrf"])
        test |= {"soup": score(soup, "test"), "best_seed": best, "soup_validation": score(soup, "validation")}
    record = {"curves": {str(s): c for s, c in curves.items()}, "alpha": alpha, "test": test}
    return json.loads(write_json(path, record | asked(sizes)).read_text())


def format_table(pilot: dict):
    """One row per weight format of the pilot: MB in memory, share of fp32's, load seconds and, where it computed
    here, validation chrF, seconds per verse and news loss (blank where it was measured for memory only)."""
    import pandas as pd
    costs = pilot["format_costs"]
    rows = {fmt: {"MB": c["weights_mb"], "of fp32": c["weights_mb"] / costs["fp32"]["weights_mb"], "load s": c["load_s"],
                  "val chrF": c.get("val_chrf"), "s per verse": c.get("seconds_per_sentence"),
                  "news loss": c.get("news_loss")} for fmt, c in costs.items()}
    return pd.DataFrame.from_dict(rows, orient="index").loc[[f for f in FORMATS if f in rows]]


def plot_frontier(record: dict, title: str | None = None):
    """WiSE-FT on validation, one line per seed: chrF gain over the base against the news loss it adds, each
    point an alpha (0 at the origin, 1 the fine-tune); the soup of the seeds as a star."""
    import matplotlib.pyplot as plt
    curves = record["curves"]
    start = next(iter(curves.values()))[0]  # alpha 0: the base model, the same for every seed
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (seed, curve) in enumerate(curves.items()):
        x = [p["news_loss"] - start["news_loss"] for p in curve]
        y = [p["chrf"] - start["chrf"] for p in curve]
        ax.plot(x, y, "o-", color=f"C{i}", label=f"seed {seed}")
        for p, xi, yi in zip(curve, x, y):
            ax.annotate(f"{p['alpha']:g}", (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if soup := record["test"].get("soup_validation"):
        ax.plot(soup["news_loss"] - start["news_loss"], soup["chrf"] - start["chrf"], "*", ms=12, color="k",
                label="soup of the seeds")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set(xlabel="news loss added (nats per token)", ylabel="validation chrF gain",
           title=title or f"WiSE-FT: task gain against forgetting (alpha chosen: {record['alpha']:g})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
