"""Lesson 11's experiments: steer SmolLM2's movie-review continuations towards positive with DPO,
and measure what it costs. Each run writes one result JSON.

    judge = load_judge()                   # lesson 07's teacher: MiniLM fine-tuned on Rotten Tomatoes
    pairs = preference_data("train")       # the model's own samples, the judge's best and worst per prompt
    run_method("dpo-b0.1", seed=0)         # LoRA + DPO at β 0.1; learning rate on validation pairs
    run_method("sft-positives", seed=0)    # the same pairs' chosen halves, supervised, same steps
    preference_table(RESULTS / "cpu")      # mean ± std over seeds, built from the files
A result file is read instead of rerun while it stands for the run asked now (protocol.stored:
the lesson's sizes, the protocol and the judge).
"""
import json
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import RESULTS, RUNS, get_profile
from ..engine.device import seed_everything
from ..engine.infer import continuations, positive_probs
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params, saved_size_mb
from ..engine.records import lesson_results, mean_std, result_name, write_json, write_result
from ..engine.train import evaluate, fit, TrainConfig
from ..methods.dpo import collator, DPOModel, mean_kl, preference_pairs, with_reference_logps
from ..methods.lm import IGNORE, pack_blocks
from ..methods.lora import add_lora, LLM_DROPOUT, merged
from ..methods.sft import fit_sft, SFTSettings
from ..experiments.teacher import teacher_key, teacher_run
from ..experiments.protocol import LOSS, cost_columns, search, search_fields, seed_paired, stored, VERSION

MODEL = "smollm2-135m"
DATA = "rt_continuations"  # result files' data name: continuations of Rotten Tomatoes openings
METHODS = {  # method -> what it does (for tables)
    "before": "SmolLM2-135M-Instruct as it is",
    "sft-positives": "LoRA, supervised on the chosen (judged positive) continuations",
    "dpo-b0.1": "LoRA, DPO on the chosen/rejected pairs, beta 0.1",
    "dpo-b0.5": "LoRA, DPO on the chosen/rejected pairs, beta 0.5",
}
BETAS = {"dpo-b0.1": 0.1, "dpo-b0.5": 0.5}


@dataclass(frozen=True)
class PreferenceSizes:
    prompt_words: int  # a prompt is a snippet's first words
    train_prompts: int  # Rotten Tomatoes train snippets whose openings may become training pairs
    val_prompts: int  # validation snippets: their pairs choose the learning rate and stop training
    dev_prompts: int  # the test split's first snippets, set aside: earlier sizes were tried on them
    test_prompts: int  # the test snippets after those: the held-out prompts every method is measured on
    candidates: int  # samples per train/validation prompt; the judge's best and worst make its pair
    test_samples: int  # samples per test prompt for the measures
    new_tokens: int  # most tokens per continuation
    epochs: int  # most passes over the pairs (early stopping on validation usually ends sooner)
    batch_size: int  # pairs (DPO) or continuations (SFT) per optimizer step
    dpo_lrs: tuple  # DPO's learning-rate grid, tried on the first seed
    sft_lrs: tuple  # SFT's grid, tried on the first seed
    lora_r: int  # LoRA rank (adapters on q_proj and v_proj)
    seeds: tuple  # seeds of every method: adapters' start, batch order, the test samples
    news_blocks: int  # news blocks (the profile's lm_block_size tokens) for the drift perplexity
    gen_batch: int  # prompts per generation batch
    lora_dropout: float = LLM_DROPOUT  # dropout on the adapters' input (methods.lora.LLM_DROPOUT)


SIZES = {
    "smoke": PreferenceSizes(prompt_words=4, train_prompts=12, val_prompts=6, dev_prompts=4, test_prompts=4, candidates=4,
                             test_samples=2, new_tokens=8, epochs=1, batch_size=4, dpo_lrs=(1e-3,),
                             sft_lrs=(1e-3,), lora_r=16, seeds=(0,), news_blocks=2, gen_batch=8),
    "cpu": PreferenceSizes(prompt_words=4, train_prompts=80, val_prompts=32, dev_prompts=48, test_prompts=48, candidates=4,
                           test_samples=2, new_tokens=16, epochs=2, batch_size=8, dpo_lrs=(2e-4, 1e-3, 5e-3),
                           sft_lrs=(5e-5, 2e-4, 1e-3), lora_r=16, seeds=(0, 1, 2, 3, 4, 5), news_blocks=4, gen_batch=64),
    "gpu": PreferenceSizes(prompt_words=4, train_prompts=4000, val_prompts=400, dev_prompts=100, test_prompts=500, candidates=4,
                           test_samples=4, new_tokens=32, epochs=3, batch_size=32, dpo_lrs=(5e-5, 2e-4, 1e-3),
                           sft_lrs=(5e-5, 2e-4, 1e-3), lora_r=16, seeds=(0, 1, 2), news_blocks=32, gen_batch=128),
}


@reads.size_table
def preference_sizes(profile: str) -> PreferenceSizes:
    return SIZES[profile]


@dataclass
class Judge:
    model: object  # a MiniLM sentiment classifier (label 1 = positive)
    tokenizer: object
    accuracy: float  # its accuracy on the Rotten Tomatoes test reviews
    key: str  # its trained weights' file: a result records it, so a new judge reruns the measures
    max_length: int  # tokens it reads per text

    def positive(self, texts) -> np.ndarray:
        """P(positive) of each text, (N,)."""
        return np.asarray(positive_probs(self.model, self.tokenizer, texts, max_length=self.max_length))


def load_judge(profile=None) -> Judge:
    """Lesson 07's teacher as the judge, loaded once per profile and process (see _judge)."""
    return _judge((profile or get_profile()).name)


@lru_cache(maxsize=None)
def _judge(profile_name: str) -> Judge:
    """Lesson 07's teacher (full fine-tuning of MiniLM, seed 0; trained once, then cached) as the judge.
    It never saw the test split, whose openings are the held-out prompts."""
    profile = get_profile(profile_name)
    with warnings.catch_warnings():  # lesson 07's note on its truncated training reviews is not this lesson's
        warnings.simplefilter("ignore", UserWarning)
        teacher = teacher_run(profile)
    return Judge(teacher.model, load_tokenizer("minilm-l6"), teacher.record["metrics"]["accuracy"], teacher.key,
                 profile.max_length)


def prompts(split: str, sizes: PreferenceSizes) -> list[str]:
    """The first words of the split's snippets (shuffled once, seed 0: the train split is sorted by label).
    "development" and "test" are two disjoint runs of the test split (see openings)."""
    source = "test" if split == "development" else split
    start, stop = openings(split, sizes)
    texts = load_dataset("rotten_tomatoes")[source].shuffle(seed=0)["text"][start:stop]
    return [" ".join(t.split()[:sizes.prompt_words]) for t in texts]


def openings(split: str, sizes: PreferenceSizes) -> tuple[int, int]:
    """(start, stop) of the split's prompts among its shuffled snippets. The test split's first
    dev_prompts are development openings, on which the cpu profile's earlier sizes were measured
    while they were being settled; the held-out test openings are the next test_prompts."""
    if split not in ("train", "validation", "development", "test"):
        raise ValueError(f"unknown split {split!r}: use train, validation, development or test")
    if split == "test":
        return sizes.dev_prompts, sizes.dev_prompts + sizes.test_prompts
    return 0, {"train": sizes.train_prompts, "validation": sizes.val_prompts, "development": sizes.dev_prompts}[split]


def sample_continuations(model, tokenizer, texts, n: int, new_tokens: int, seed: int, batch_size: int = 64):
    """n continuations of each text sampled at temperature 1 (the model's own distribution).
    Returns (prompt ids per text, [n continuation ids] per text, [n decoded continuations] per text);
    a continuation ends at the model's end-of-text token (kept) or after new_tokens."""
    torch.manual_seed(seed)
    prompt_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    grouped = continuations(model, tokenizer, prompt_ids, n, new_tokens, batch_size, do_sample=True,
                            temperature=1.0, top_k=0, top_p=1.0)
    decoded = [tokenizer.batch_decode(group, skip_special_tokens=True) for group in grouped]
    return prompt_ids, grouped, decoded


def _pairs_file(split: str, profile) -> Path:
    return RUNS / "11_preference" / profile.name / f"pairs-{split}.json"


def preference_data(split: str, profile=None):
    """On-policy preference pairs for the split's prompts (built once by build_pairs, then read from
    runs/11_preference/; rebuilt when the profile's sizes or the judge changed)."""
    from datasets import Dataset
    profile = profile or get_profile()
    sizes, path = preference_sizes(profile.name), _pairs_file(split, profile)
    asked = {"prompts": len(prompts(split, sizes)), "candidates": sizes.candidates,
             "prompt_words": sizes.prompt_words, "new_tokens": sizes.new_tokens, "judge": teacher_key(profile)}
    record = stored(path, asked)
    if record is None:
        record = asked | build_pairs(split, sizes, profile)
        write_json(path, record)
    return Dataset.from_list(record["rows"])


def build_pairs(split: str, sizes: PreferenceSizes, profile) -> dict:
    """Each prompt gets `candidates` samples from the model as it is; the judge scores each; the most
    positive is chosen and the least positive rejected, when the judge calls the first positive
    (P > 0.5) and the second negative (P < 0.5). The reference's log-probabilities come along.
    Returns {"positive_share": of all candidates, "rows": the pairs}."""
    model, tokenizer, judge = load_model(MODEL), load_tokenizer(MODEL), load_judge(profile)
    texts = prompts(split, sizes)
    prompt_ids, conts, decoded = sample_continuations(model, tokenizer, texts, sizes.candidates,
                                                      sizes.new_tokens, seed=0, batch_size=sizes.gen_batch)
    p = judge.positive([t for group in decoded for t in group]).reshape(len(texts), sizes.candidates)
    best, worst = p.argmax(1), p.argmin(1)
    keep = [j for j in range(len(texts)) if p[j, best[j]] > 0.5 > p[j, worst[j]]]
    if not keep:
        raise ValueError(f"no {split} prompt got both a positive and a negative sample from the judge: "
                         "raise the profile's candidates or prompts (preference_tuning.SIZES)")
    pick = lambda values, which: [values[j][which[j]] for j in keep]
    pairs = preference_pairs([prompt_ids[j] for j in keep], pick(conts, best), pick(conts, worst),
                             prompt=[texts[j] for j in keep], chosen=pick(decoded, best),
                             rejected=pick(decoded, worst), p_chosen=[float(v) for v in pick(p, best)],
                             p_rejected=[float(v) for v in pick(p, worst)])
    pairs = with_reference_logps(model, pairs, tokenizer)
    return {"positive_share": float((p > 0.5).mean()), "rows": pairs.to_list()}


def pairs_summary(split: str, profile=None) -> dict:
    """How the split's pairs were made: prompts, candidates each, the share judged positive, pairs kept."""
    profile = profile or get_profile()
    preference_data(split, profile)
    record = json.loads(_pairs_file(split, profile).read_text())
    return {"prompts": record["prompts"], "candidates": record["candidates"],
            "candidates judged positive": round(record["positive_share"], 3), "pairs": len(record["rows"])}


def positives(pairs):
    """The pairs' chosen continuations as supervised examples: labels -100 on the prompt."""
    from datasets import Dataset
    rows = [{"input_ids": p + c, "attention_mask": [1] * (len(p) + len(c)), "labels": [IGNORE] * len(p) + c}
            for p, c in zip(pairs["prompt_ids"], pairs["chosen_ids"])]
    return Dataset.from_list(rows)


def distinct_2(texts) -> float:
    """Distinct word bigrams over all bigrams of the texts (Li et al. 2016): 1 = no bigram repeats."""
    bigrams = [tuple(words[i:i + 2]) for t in texts for words in [t.split()] for i in range(len(words) - 1)]
    return len(set(bigrams)) / max(1, len(bigrams))


def news_perplexity(model, tokenizer, sizes: PreferenceSizes, profile) -> float:
    """Perplexity on held-out general news blocks (lesson 01's drift measure)."""
    news = pack_blocks(load_dataset("news_articles")["validation"]["text"], tokenizer, profile.lm_block_size,
                       sizes.news_blocks)
    return evaluate(model, news, batch_size=8)["perplexity"]


def measure(model, tokenizer, judge: Judge, sizes: PreferenceSizes, profile, seed: int) -> dict:
    """Sample the test prompts' continuations (seeded) and measure them: the share the judge calls
    positive (overall and per prompt), its mean P(positive), distinct-2, KL to the reference, news perplexity."""
    texts = prompts("test", sizes)
    with merged(model):
        prompt_ids, conts, decoded = sample_continuations(model, tokenizer, texts, sizes.test_samples,
                                                          sizes.new_tokens, seed, sizes.gen_batch)
        news_ppl = news_perplexity(model, tokenizer, sizes, profile)
    flat = [t for group in decoded for t in group]
    p = judge.positive(flat).reshape(len(texts), sizes.test_samples)  # (prompts, samples)
    metrics = {"positive_share": float((p > 0.5).mean()), "mean_p_positive": float(p.mean()),
               "distinct_2": distinct_2(flat), "kl": mean_kl(model, tokenizer, prompt_ids, conts),
               "news_ppl": news_ppl}
    return {"metrics": metrics, "prompt_positive_share": (p > 0.5).mean(1).tolist(),
            "samples": [{"prompt": t, "continuation": g[0]} for t, g in zip(texts, decoded)]}


def result_file(method: str, seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(method, MODEL, DATA, profile.name, seed)


def _train_config(lr: float, seed: int, sizes: PreferenceSizes, profile):
    return TrainConfig.from_profile(profile, lr=lr, epochs=sizes.epochs, batch_size=sizes.batch_size,
                                    warmup_ratio=0.1, seed=seed, eval_batch_size=16, group_by_length=False,
                                    metric="loss", log_every=1)


def fit_once(method: str, lr: float, seed: int, train, val, sizes: PreferenceSizes, profile) -> tuple:
    """One LoRA fine-tune by `method` at `lr` on `train` (pairs for DPO, positives() for SFT),
    early-stopped on its loss on `val` with the best weights restored: (the peft model, the TrainResult)."""
    tokenizer = load_tokenizer(MODEL)
    seed_everything(seed)
    model = add_lora(load_model(MODEL), r=sizes.lora_r, dropout=sizes.lora_dropout)
    if method not in BETAS:
        settings = SFTSettings(lr=lr, epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed,
                               patience=profile.patience, group_by_length=False)
        return model, fit_sft(model, train, val, tokenizer, settings).result
    cfg = _train_config(lr, seed, sizes, profile)
    return model, fit(DPOModel(model, BETAS[method]), train, val, cfg, collate_fn=collator(tokenizer))


def asked(profile) -> dict:
    """What a stored result must have been made from (protocol.stored): the lesson's sizes, the
    protocol and the judge. The preference pairs are built from these two (their file is rebuilt
    when they change); the samples themselves depend on the machine's precision, so they are not
    part of the key: a bf16 and an fp32 machine read the same committed results."""
    return {"sizes": asdict(preference_sizes(profile.name)), "protocol": VERSION, "judge": teacher_key(profile)}


def _training_sets(method: str, profile) -> tuple:
    """(train, validation, training pairs): the pairs for DPO, their chosen halves (positives) for SFT."""
    pairs = {split: preference_data(split, profile) for split in ("train", "validation")}
    train, val = (pairs[s] if method in BETAS else positives(pairs[s]) for s in ("train", "validation"))
    return train, val, len(pairs["train"])


def choose_rate(method: str, profile, out_dir=None):
    """The method's rate by validation loss at the first seed (protocol.search over its grid);
    Choice.winner holds the winner's (record, model) when it was trained in this call."""
    sizes = preference_sizes(profile.name)
    train, val, n_pairs = _training_sets(method, profile)
    seed = sizes.seeds[0]

    def validate(lr):
        model, result = fit_once(method, lr, seed, train, val, sizes, profile)
        return _fit_record(method, lr, result, n_pairs), model

    name, provenance = result_file(method, seed, profile).stem, asked(profile)
    return search(name, sizes.dpo_lrs if method in BETAS else sizes.sft_lrs, validate,
                  Path(out_dir or RESULTS / profile.name), lambda lr: provenance | {"lr": lr}, score=LOSS,
                  describe=lambda lr, r: {"lr": lr, "val_loss": r["val_loss"]})


def _fit_record(method: str, lr: float, result, train_pairs: int) -> dict:
    """What a result file records of one fit."""
    record = {"lr": lr, "val_loss": result.metrics["loss"], "steps": result.steps, "best_step": result.best_step,
              "train_time_s": result.train_time_s, "tokens_per_s": result.tokens_per_s,
              "precision": result.precision, "train_pairs": train_pairs, "beta": BETAS.get(method)}
    if "accuracy" in result.metrics:  # DPO: the share of validation pairs whose chosen reward is higher
        record["val_reward_accuracy"] = result.metrics["accuracy"]
    return record


def _trained(method: str, seed: int, profile, out_dir) -> tuple:
    """The method trained at the rate chosen on validation: (model, what the result file records).
    The first seed's model is the search's winner, not trained again."""
    choice = choose_rate(method, profile, out_dir)
    if choice.winner and seed == preference_sizes(profile.name).seeds[0]:
        record, model = choice.winner
    else:
        train, val, n_pairs = _training_sets(method, profile)
        model, result = fit_once(method, choice.value, seed, train, val, preference_sizes(profile.name), profile)
        record = _fit_record(method, choice.value, result, n_pairs)
    return model, record | {"candidates": choice.candidates} | search_fields(choice)


def run_method(method: str, seed: int = 0, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """Train (or not, for "before") and measure on the held-out prompts; one result file per seed,
    read back instead of rerun while it stands for the run asked now (protocol.stored)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    profile = profile or get_profile()
    sizes, path = preference_sizes(profile.name), result_file(method, seed, profile, out_dir)
    provenance = asked(profile)
    if skip_existing and (record := stored(path, provenance)):
        return record
    tokenizer, judge, start = load_tokenizer(MODEL), load_judge(profile), time.perf_counter()
    with PeakTracker() as mem:
        model, record = (load_model(MODEL), {}) if method == "before" else _trained(method, seed, profile, out_dir)
        measured = measure(model, tokenizer, judge, sizes, profile, seed)
    trainable, total = count_params(model)
    written = write_result(path.parent, method=method, model=MODEL, data=DATA, profile=profile.name, seed=seed,
                           metrics=measured.pop("metrics"), trainable_params=trainable, total_params=total,
                           wall_time_s=time.perf_counter() - start, peak_memory_mb=mem.mb,
                           checkpoint_size_mb=saved_size_mb(model) if trainable else 0.0,
                           judge_accuracy=judge.accuracy, test_prompts=sizes.test_prompts,
                           test_openings=list(openings("test", sizes)), test_samples=sizes.test_samples,
                           **record, **measured, **provenance)
    return json.loads(Path(written).read_text())


def run_lesson(profile=None, skip_existing: bool = True) -> None:
    """Every method x seed of the lesson (what `make results` runs); stored results are read."""
    profile = profile or get_profile()
    runs = [(m, s) for m in METHODS for s in preference_sizes(profile.name).seeds]
    for method, seed in tqdm(runs, desc="lesson 11: runs"):
        run_method(method, seed, skip_existing=skip_existing, profile=profile)


def _runs(folder):
    return lesson_results(folder, "lesson 11", data=DATA, model=MODEL)


def preference_table(folder):
    """One row per method (METHODS order): each measure as mean ± std over seeds, the rate chosen, the cost."""
    frame, rows = _runs(folder), []
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        lr = runs.lr.iloc[0] if "lr" in runs and runs.lr.notna().any() else None
        rows.append({"method": method, "what it does": METHODS[method],
                     "judged positive %": mean_std(100 * runs.metric_positive_share, 1),
                     "mean P(positive)": mean_std(runs.metric_mean_p_positive, 2),
                     "distinct-2": mean_std(runs.metric_distinct_2, 2), "KL to reference": mean_std(runs.metric_kl, 2),
                     "news perplexity": mean_std(runs.metric_news_ppl, 1), "seeds": len(runs),
                     "learning rate": "—" if lr is None else f"{lr:g}",
                     **cost_columns(runs)})
    return pd.DataFrame(rows)


def compare(folder, a: str, b: str) -> tuple:
    """Paired difference a - b of the judged-positive share (points), per held-out prompt averaged over
    the seeds both ran: (mean, low, high) of its 95% t interval over the prompts, and the seeds used."""
    return seed_paired(_runs(folder), a, b, "prompt_positive_share", scale=100)


def plot_frontier(folder, title: str | None = None):
    """Judged-positive share against KL to the reference, one point per run: what each method bought
    and what it spent (DPO's reward-KL trade-off, Rafailov et al. 2023, fig. 2)."""
    import matplotlib.pyplot as plt
    frame = _runs(folder)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        ax.scatter(runs.metric_kl, 100 * runs.metric_positive_share, label=method)
    ax.set(xlabel="KL to the reference (nats per continuation)", ylabel="judged positive (%)",
           title=title or "What preference tuning buys, and what it spends")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def samples(folder, methods, n: int = 6):
    """The first n held-out prompts and each method's first sampled continuation (first seed)."""
    frame = _runs(folder)
    table = {}
    for method in methods:
        runs = frame[frame.method == method].sort_values("seed")
        rows = list(runs.samples.iloc[0])[:n]
        table.setdefault("prompt", [r["prompt"] for r in rows])
        table[method] = [r["continuation"] for r in rows]
    return pd.DataFrame(table)
