"""Lesson 06's LLM experiment: SmolLM2 + LoRA learns the style of Hamlet; one result JSON per seed.

    run_style(seed=0)                  # fine-tune on the play's training split, measure before and after
    style_table(RESULTS / "cpu")       # each measure before -> after, mean over seeds
    style_differences(RESULTS / "cpu") # after - before with paired intervals (claim 12)
The measures were fixed before any result was seen: held-out perplexity of the play (its last 10%:
the first half stops training, the second half is measured), general-news perplexity (what the
fine-tune costs elsewhere) and, in continuations sampled from the same prompts and seeds before and
after, Early Modern English forms per 1,000 words (EME_FORMS) and the share of samples written in
the play's layout (a speaker's name in capitals alone on a line).
"""
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import get_profile, RESULTS, RUNS
from ..engine.device import seed_everything
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params
from ..engine.records import lesson_results, result_name, write_result
from ..engine.train import fit, TrainConfig
from ..methods.generation import PROMPTS
from ..methods.lm import block_losses, pack_blocks, sample
from ..methods.lora import add_lora, LLM_DROPOUT, save_adapter
from ..experiments.protocol import paired, stored, VERSION

MODEL, DATA, METHOD = "smollm2-135m", "hamlet", "style-lora"
EME_FORMS = ("thou", "thee", "thy", "thine", "hath", "doth", "dost", "hast", "'tis")  # Early Modern English
SPEAKER_LINE = re.compile(r"^[A-Z][A-Z' ]{2,}$", re.MULTILINE)  # "HAMLET", "KING CLAUDIUS" alone on a line


@dataclass(frozen=True)
class StyleSizes:
    train_blocks: int | None  # blocks of the play's training split trained on (None: all of them)
    epochs: int  # most passes; the epoch with the lowest held-out validation loss is kept
    lr: float  # the adapters' rate: lesson 06's LoRA on SmolLM2, not searched here (see the lesson)
    lora_r: int  # LoRA rank (adapters on q_proj and v_proj)
    batch_size: int  # blocks per optimizer step
    samples: int  # continuations sampled per prompt, before and after
    new_tokens: int  # tokens per continuation
    news_blocks: int  # general-news blocks for the cost perplexity
    seeds: tuple  # seeds: adapters' start, batch order, the samples
    lora_dropout: float = LLM_DROPOUT  # dropout on the adapters' input (methods.lora.LLM_DROPOUT)


SIZES = {
    "smoke": StyleSizes(train_blocks=8, epochs=1, lr=1e-3, lora_r=16, batch_size=8, samples=2, new_tokens=12,
                        news_blocks=2, seeds=(0,)),
    "cpu": StyleSizes(train_blocks=None, epochs=2, lr=1e-3, lora_r=16, batch_size=8, samples=16, new_tokens=48,
                      news_blocks=16, seeds=(0, 1, 2)),
    "gpu": StyleSizes(train_blocks=None, epochs=5, lr=1e-3, lora_r=16, batch_size=16, samples=64, new_tokens=96,
                      news_blocks=64, seeds=(0, 1, 2)),
}


@reads.size_table
def style_sizes(profile: str) -> StyleSizes:
    return SIZES[profile]


def eme_counts(text: str) -> tuple[int, int]:
    """(Early Modern English forms, words) in a text; words are runs of letters and apostrophes."""
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w.strip("'") in EME_FORMS or w in EME_FORMS for w in words), len(words)


def speaker_layout(text: str) -> bool:
    """Whether a text has a speaker's name in capitals alone on a line, as the play is written."""
    return bool(SPEAKER_LINE.search(text))


def blocks(tokenizer, sizes: StyleSizes, profile) -> dict:
    """LM blocks of the profile's length: train (the play's first 90%), validation and test (the
    first and second half of its held-out end), news (general English, held out)."""
    play, news = load_dataset(DATA), load_dataset("news_articles")
    size = profile.lm_block_size
    held_out = pack_blocks(play["validation"]["text"], tokenizer, size)
    half = len(held_out) // 2
    return {"train": pack_blocks(play["train"]["text"], tokenizer, size, sizes.train_blocks),
            "validation": held_out.select(range(half)), "test": held_out.select(range(half, len(held_out))),
            "news": pack_blocks(news["validation"]["text"], tokenizer, size, sizes.news_blocks)}


def measure(model, tokenizer, data: dict, sizes: StyleSizes, seed: int) -> dict:
    """Per-block losses on the held-out play and on news, and the samples with their style counts."""
    texts = [t for prompt in PROMPTS[DATA] for t in sample(model, tokenizer, prompt, sizes.new_tokens,
                                                            temperature=0.8, top_k=50, n=sizes.samples, seed=seed)]
    counts = [eme_counts(t) for t in texts]
    return {"block_loss": block_losses(model, data["test"]).tolist(),
            "news_block_loss": block_losses(model, data["news"]).tolist(), "samples": texts,
            "eme": [c for c, _ in counts], "words": [w for _, w in counts],
            "layout": [speaker_layout(t) for t in texts]}


def summary(m: dict) -> dict:
    """The measures of one side (before or after) as single numbers."""
    return {"style_ppl": math.exp(np.mean(m["block_loss"])), "news_ppl": math.exp(np.mean(m["news_block_loss"])),
            "eme_per_1000": 1000 * sum(m["eme"]) / max(1, sum(m["words"])), "layout_share": float(np.mean(m["layout"]))}


def asked(profile) -> dict:
    return {"sizes": asdict(style_sizes(profile.name)), "protocol": VERSION, "lm_block_size": profile.lm_block_size}


def adapter_dir(seed: int, profile) -> Path:
    """Where a run keeps its trained adapter (git-ignored)."""
    return RUNS / "06_hamlet_adapter" / profile.name / f"seed{seed}"


def result_file(seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(METHOD, MODEL, DATA, profile.name, seed)


def run_style(seed: int = 0, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """Measure SmolLM2, fine-tune LoRA adapters on the play (early stopping on the held-out
    validation half, best epoch restored), measure again with the same prompts and seed."""
    profile = profile or get_profile()
    sizes, path, provenance = style_sizes(profile.name), result_file(seed, profile, out_dir), asked(profile)
    if skip_existing and (record := stored(path, provenance)):
        return record
    tokenizer, start = load_tokenizer(MODEL), time.perf_counter()
    data = blocks(tokenizer, sizes, profile)
    seed_everything(seed)
    model = load_model(MODEL)
    before = measure(model, tokenizer, data, sizes, seed)
    model = add_lora(model, r=sizes.lora_r, dropout=sizes.lora_dropout)
    config = TrainConfig(lr=sizes.lr, epochs=sizes.epochs, batch_size=sizes.batch_size, warmup_ratio=0.1,
                         group_by_length=False, log_every=1, seed=seed, progress=False)
    with PeakTracker() as mem:
        run = fit(model, data["train"], data["validation"], config)
    after = measure(model, tokenizer, data, sizes, seed)
    adapter_mb = save_adapter(model, adapter_dir(seed, profile))
    trainable, total = count_params(model)
    metrics = {f"{k}_{side}": v for side, m in (("before", before), ("after", after)) for k, v in summary(m).items()}
    written = write_result(path.parent, method=METHOD, model=MODEL, data=DATA, profile=profile.name, seed=seed,
                           metrics=metrics, trainable_params=trainable, total_params=total,
                           wall_time_s=time.perf_counter() - start, peak_memory_mb=mem.mb,
                           checkpoint_size_mb=adapter_mb, train_blocks=len(data["train"]),
                           test_blocks=len(data["test"]), best_epoch=run.best_epoch,
                           steps=run.steps, train_time_s=run.train_time_s, lr=sizes.lr,
                           before=before, after=after, **provenance)
    return stored(written, provenance)


def run_lesson(profile=None, skip_existing: bool = True) -> list[dict]:
    """Every seed of the profile (what `make results` runs)."""
    profile = profile or get_profile()
    seeds = style_sizes(profile.name).seeds
    return [run_style(s, skip_existing=skip_existing, profile=profile) for s in tqdm(seeds, desc="lesson 06: style")]


def _runs(folder):
    return lesson_results(folder, METHOD, method=METHOD, data=DATA).sort_values("seed")


def play_reference() -> dict:
    """The style measures of the play's own held-out text: where a perfect imitation would land."""
    texts = load_dataset(DATA)["validation"]["text"]
    eme, words = map(sum, zip(*(eme_counts(t) for t in texts)))
    return {"eme_per_1000": 1000 * eme / words, "layout_share": float(np.mean([speaker_layout(t) for t in texts]))}


def style_table(folder):
    """Each measure before and after the fine-tune (mean over seeds), the play's own held-out text beside."""
    runs, play = _runs(folder), play_reference()
    names = {"style_ppl": "held-out Hamlet perplexity", "news_ppl": "general-news perplexity",
             "eme_per_1000": "Early Modern forms per 1,000 words", "layout_share": "samples in the play's layout"}
    rows = [{"measure": label, "before": runs[f"metric_{key}_before"].mean(),
             "after": runs[f"metric_{key}_after"].mean(), "the play itself": play.get(key)}
            for key, label in names.items()]
    return pd.DataFrame(rows).round(3).fillna("—")


def style_differences(folder) -> dict:
    """after − before of each measure, paired on the same items, seeds and items resampled together
    (protocol.paired_bootstrap, over_seeds): {measure: Paired}. Held-out blocks are the same
    every seed; samples come from the same prompts before and after and at every seed, so sample k of
    each seed answers prompt k."""
    runs = _runs(folder)

    def of(side, key):  # (seeds, items)
        return np.array([np.asarray(r[key], dtype=float) for r in runs[side]])

    def per_1000(m):  # (resamples, samples, 2) -> (resamples,): forms per 1,000 words
        return 1000 * m[..., 0].sum(-1) / m[..., 1].sum(-1)

    eme = [np.stack([of(side, "eme"), of(side, "words")], -1) for side in ("after", "before")]
    return {"style loss (nats per token)": paired(of("after", "block_loss"), of("before", "block_loss")),
            "news loss (nats per token)": paired(of("after", "news_block_loss"), of("before", "news_block_loss")),
            "Early Modern forms per 1,000 words": paired(*eme, statistic=per_1000),
            "samples in the play's layout (points)": paired(100 * of("after", "layout"), 100 * of("before", "layout"))}
