"""Lesson 10's experiments: SmolLM2 translating French into English, each run one result JSON.

    run_prompting(k=0)                      # zero-shot on the fixed Bible test verses
    run_prompting(k=3, seed=1)              # few-shot: 3 training pairs as earlier turns of the chat
    run_pilot()                             # sizing on validation: loss and chrF against pairs x epochs
    run_sft("sft-lora-answer", seed=0)      # LoRA, loss on the answer; learning rate chosen on validation
    run_domain(200)                         # the Bible LoRA model + 200 interface pairs, on interface strings
    translation_table(RESULTS / "cpu")      # mean ± std over seeds, built from the files
    run_lesson()                            # all of the above, in order (what `make results` runs)
A result file is read instead of rerun while it stands for the run asked now (protocol.stored: the
lesson's sizes, the protocol, the data and, for the domain runs, the Bible model they start from).
"""
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import RESULTS, RUNS, get_profile
from ..engine.data import take
from ..engine.device import seed_everything
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params, saved_size_mb
from ..engine.records import load_results, mean_std, result_name, write_json, write_result
from ..engine.train import evaluate, fit, TrainConfig
from ..methods.lm import pack_blocks
from ..methods.lora import add_lora, ALL_LINEAR, LLM_DROPOUT, load_adapter, save_adapter
from ..methods.sft import collator, encode_pairs, fit_sft, learned_tokens, SFTSettings, SYSTEM
from ..methods.translate import corpus_scores, sentence_chrf, translate, translation_pairs
from ..methods.zeroshot import label_logprobs, Prompt
from ..experiments.protocol import LOSS, paired_bootstrap, paired_difference, cost_columns, search, search_fields, seed_paired, stored, VERSION

MODEL = "smollm2-135m"
SFT_METHODS = {  # method -> (LoRA on "q/v" or ALL_LINEAR, None: every weight; loss on the answer only?)
    "sft-lora-answer": ("q/v", True),
    "sft-lora-every": ("q/v", False),
    "sft-lora-all-answer": (ALL_LINEAR, True),
    "sft-full-answer": (None, True),
}
METHODS = {  # method -> what it does (for tables)
    "zeroshot": "no training: one user turn, \"Translate to English: ...\"",
    "fewshot-1": "no training: 1 training pair as an earlier turn of the chat",
    "fewshot-3": "no training: 3 training pairs as earlier turns of the chat",
    "sft-lora-answer": "LoRA adapters on q/v; loss on the answer tokens only",
    "sft-lora-every": "LoRA adapters on q/v; loss on every token (system, user, answer)",
    "sft-lora-all-answer": "LoRA adapters on every linear layer; loss on the answer tokens only",
    "sft-full-answer": "every weight; loss on the answer tokens only",
}
DOMAIN_BASE = "sft-lora-answer"  # the Bible model the domain experiment starts from (first seed)
BIBLE_WORDS = ("yahweh", "lord", "god", "israel", "unto", "thee", "thou", "thy", "behold", "shall")  # the verses' own


@dataclass(frozen=True)
class TranslateSizes:
    max_words: int  # only pairs whose English has at most this many words (short verses: CPU time)
    train_pairs: int  # Bible pairs per fine-tune, drawn anew for each seed
    val_pairs: int | None  # validation pairs: each learning rate is judged on their answer loss (None: all)
    test_pairs: int | None  # fixed test pairs: the same for every method and seed (None: all)
    epochs: int  # passes over the training pairs
    batch_size: int  # chats per optimizer step
    seeds: tuple  # seeds of the compared LoRA fine-tunes (answer-only vs every token)
    full_seeds: tuple  # seeds of full fine-tuning (each costs more than a LoRA run)
    prompt_seeds: tuple  # seeds of few-shot prompting: which training pairs are the examples
    lora_lrs: tuple  # LoRA's learning-rate grid (adapters on q_proj and v_proj), tried on the first seed
    lora_all_lrs: tuple  # the grid of LoRA on every linear layer, tried on the first seed
    full_lrs: tuple  # full fine-tuning's grid, tried on the first seed
    lora_r: int  # LoRA rank
    domain_sizes: tuple  # interface-string pairs added to the Bible model; None = all of them
    cost_reviews: int  # Rotten Tomatoes test reviews for lesson 02's zero-shot sentiment check
    cost_blocks: int  # news blocks (the profile's lm_block_size tokens) for general-English perplexity
    gen_batch: int  # sentences per generation batch
    pilot_pairs: tuple  # the sizing pilot's training-pair counts (run_pilot: validation only)
    pilot_epochs: int  # the pilot's epochs; validation loss and chrF after each
    pilot_lr: float  # the pilot's rate (LoRA q/v, answer-only loss)
    lora_dropout: float = LLM_DROPOUT  # dropout on the adapters' input (methods.lora.LLM_DROPOUT)


SIZES = {
    "smoke": TranslateSizes(max_words=12, train_pairs=4, val_pairs=2, test_pairs=3, epochs=1,
                            batch_size=4, seeds=(0,), full_seeds=(0,), prompt_seeds=(0,),
                            lora_lrs=(1e-3,), lora_all_lrs=(1e-3,), full_lrs=(5e-5,), lora_r=16,
                            domain_sizes=(2,), cost_reviews=8, cost_blocks=2, gen_batch=4,
                            pilot_pairs=(4,), pilot_epochs=2, pilot_lr=1e-3),
    "cpu": TranslateSizes(max_words=12, train_pairs=400, val_pairs=None, test_pairs=None, epochs=2,
                          batch_size=8, seeds=(0, 1, 2), full_seeds=(0, 1, 2), prompt_seeds=(0, 1, 2),
                          lora_lrs=(1e-3, 3e-3, 1e-2), lora_all_lrs=(3e-4, 1e-3, 3e-3), full_lrs=(3e-5, 1e-4, 3e-4),
                          lora_r=16, domain_sizes=(50, 200), cost_reviews=64, cost_blocks=4, gen_batch=40,
                          pilot_pairs=(50, 200, 800), pilot_epochs=3, pilot_lr=1e-3),
    "gpu": TranslateSizes(max_words=30, train_pairs=4000, val_pairs=200, test_pairs=500, epochs=2,
                          batch_size=16, seeds=(0, 1, 2), full_seeds=(0, 1, 2), prompt_seeds=(0, 1, 2),
                          lora_lrs=(3e-4, 1e-3, 3e-3), lora_all_lrs=(1e-4, 3e-4, 1e-3), full_lrs=(1e-5, 3e-5, 1e-4),
                          lora_r=16, domain_sizes=(50, 200, None), cost_reviews=1000, cost_blocks=32, gen_batch=64,
                          pilot_pairs=(500, 2000, 8000), pilot_epochs=3, pilot_lr=1e-3),
}


@reads.size_table
def translate_sizes(profile: str) -> TranslateSizes:
    return SIZES[profile]


def result_file(method: str, data: str, seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(method, MODEL, data, profile.name, seed)


def adapter_dir(method: str, seed: int, profile) -> Path:
    """Where a LoRA run keeps its adapter (git-ignored), for the domain experiment to start from."""
    return RUNS / "10_translation" / profile.name / f"{method}-seed{seed}"


def asked(data: str, sizes, seed: int) -> dict:
    """What a stored result must have been made from (protocol.stored): the lesson's sizes, the
    protocol, and the pairs it trained and was tested on."""
    pairs = translation_pairs(data, sizes, seed)
    text = json.dumps({split: frame.to_dict("list") for split, frame in pairs.items()}, sort_keys=True)
    return {"sizes": asdict(sizes), "protocol": VERSION, "data_hash": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _cached(path: Path, skip_existing: bool, provenance: dict):
    return stored(path, provenance) if skip_existing else None


def cost_measures(model, tokenizer, sizes, profile) -> dict:
    """What a model knows besides translating: perplexity on general English (news_articles,
    held-out blocks) and lesson 02's zero-shot sentiment accuracy (Rotten Tomatoes test reviews)."""
    news = pack_blocks(load_dataset("news_articles")["validation"]["text"], tokenizer,
                       profile.lm_block_size, sizes.cost_blocks)
    reviews = take(load_dataset("rotten_tomatoes"), profile)["test"]
    reviews = reviews.select(range(min(sizes.cost_reviews, len(reviews))))
    logp = label_logprobs(model, tokenizer, reviews["text"], Prompt(), max_length=profile.max_length,
                          progress=False)  # (N, 2)
    return {"news_ppl": evaluate(model, news, batch_size=8)["perplexity"],
            "sentiment_acc": float((logp.argmax(1) == np.asarray(reviews["label"])).mean())}


def _write(path: Path, run: tuple, test, out, metrics: dict, **record) -> dict:
    """The result JSON of one run (method, data, seed, profile): corpus chrF/BLEU, the
    hypotheses and per-sentence chrF, then `metrics` and the rest of the record."""
    method, data, seed, profile = run
    metrics = corpus_scores(out.hypotheses, test.target) | metrics
    written = write_result(path.parent, method=method, model=MODEL, data=data, profile=profile.name, seed=seed,
                           metrics=metrics, test_pairs=len(test), hypotheses=out.hypotheses,
                           sentence_chrf=sentence_chrf(out.hypotheses, test.target),
                           seconds_per_sentence=out.seconds_per_sentence, new_tokens=out.new_tokens,
                           **record)
    return json.loads(Path(written).read_text())


def run_prompting(k: int = 0, seed: int = 0, data: str = "bible_fr_en", out_dir=None,
                  skip_existing: bool = True, profile=None) -> dict:
    """Prompt the pretrained model with k example pairs (the seed's first k training pairs)."""
    profile = profile or get_profile()
    sizes, method = translate_sizes(profile.name), "zeroshot" if k == 0 else f"fewshot-{k}"
    path, provenance = result_file(method, data, seed, profile, out_dir), asked(data, sizes, seed)
    if cached := _cached(path, skip_existing, provenance):
        return cached
    tokenizer, model = load_tokenizer(MODEL), load_model(MODEL)
    pairs = translation_pairs(data, sizes, seed)
    examples = list(zip(pairs["train"].source[:k], pairs["train"].target[:k]))
    test = pairs["test"]
    with PeakTracker() as mem:
        out = translate(model, tokenizer, test.source, test.target, examples, sizes.gen_batch)
    measured = k == 0 and data == "bible_fr_en" and seed == sizes.prompt_seeds[0]
    costs = cost_measures(model, tokenizer, sizes, profile) if measured else {}
    total = count_params(model)[1]
    return _write(path, (method, data, seed, profile), test, out, costs, trainable_params=0,
                  total_params=total, wall_time_s=out.seconds, peak_memory_mb=mem.mb,
                  checkpoint_size_mb=0.0, k=k, examples=examples, **provenance)


def build_model(adapters: str | None, sizes, seed: int):
    """SmolLM2 as loaded, wrapped in LoRA adapters (rank sizes.lora_r, seeded) on `adapters`
    ("q/v" or ALL_LINEAR; None: no adapters, every weight trains)."""
    seed_everything(seed)
    model = load_model(MODEL)
    if adapters is None:
        return model
    return add_lora(model, r=sizes.lora_r, target_modules=None if adapters == "q/v" else adapters,
                    dropout=sizes.lora_dropout)


def rate_grid(method: str, sizes) -> tuple:
    """The method's learning-rate grid: each kind of fine-tune has its own."""
    adapters = SFT_METHODS[method][0]
    return {"q/v": sizes.lora_lrs, ALL_LINEAR: sizes.lora_all_lrs, None: sizes.full_lrs}[adapters]


def first_seed(method: str, sizes) -> int:
    return (sizes.seeds if SFT_METHODS[method][0] else sizes.full_seeds)[0]


def choose_rate(method: str, profile, out_dir=None):
    """The method's rate by validation loss on the answer tokens at its first seed (protocol.search
    over its grid); Choice.winner holds the winner's (record, SFTRun) when trained in this call."""
    sizes, (adapters, answer_only) = translate_sizes(profile.name), SFT_METHODS[method]
    seed, tokenizer = first_seed(method, sizes), load_tokenizer(MODEL)
    pairs = translation_pairs("bible_fr_en", sizes, seed)
    train = encode_pairs(tokenizer, pairs["train"].source, pairs["train"].target, answer_only)
    val = encode_pairs(tokenizer, pairs["validation"].source, pairs["validation"].target)

    def validate(lr):
        config = SFTSettings(lr=lr, epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed)
        run = fit_sft(build_model(adapters, sizes, seed), train, val, tokenizer, config)
        return {"val_loss": run.val_loss}, run

    name, provenance = result_file(method, "bible_fr_en", seed, profile).stem, asked("bible_fr_en", sizes, seed)
    return search(name, rate_grid(method, sizes), validate, Path(out_dir or RESULTS / profile.name),
                  lambda lr: provenance | {"lr": lr}, score=LOSS,
                  describe=lambda lr, r: {"lr": lr, "val_loss": r["val_loss"]})


def pilot_file(profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / "pilot" / f"translation__{MODEL}__bible_fr_en.json"


def run_pilot(out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """How big the fine-tunes must be, judged on validation before any test verse is scored: LoRA
    (q/v, answer-only loss, sizes.pilot_lr, seed 0) trained on each of sizes.pilot_pairs pairs for
    sizes.pilot_epochs epochs, with the validation answer loss and chrF after every epoch; and what
    the template's default system turn costs against an empty one (tokens per training chat,
    zero-shot validation chrF). One JSON under the results folder's pilot/."""
    profile = profile or get_profile()
    sizes = translate_sizes(profile.name)
    path = pilot_file(profile, out_dir)
    provenance = {"pilot": pilot_settings(sizes), "protocol": VERSION}
    if cached := _cached(path, skip_existing, provenance):
        return cached
    tokenizer = load_tokenizer(MODEL)
    pairs = translation_pairs("bible_fr_en", replace(sizes, train_pairs=max(sizes.pilot_pairs)), 0)
    val = pairs["validation"]
    record = {"system_turn": system_turn_cost(tokenizer, pairs, sizes), "curve": []}
    for n in tqdm(sizes.pilot_pairs, desc="pilot: training-pair counts"):
        record["curve"] += pilot_curve(tokenizer, pairs["train"].head(n), val, sizes)
    return json.loads(write_json(path, record | provenance).read_text())


def pilot_settings(sizes) -> dict:
    """The sizes a pilot depends on (not the fine-tunes' own, which the pilot chooses)."""
    keys = ("max_words", "val_pairs", "batch_size", "lora_r", "lora_dropout", "gen_batch", "pilot_pairs", "pilot_epochs",
            "pilot_lr")
    return {k: getattr(sizes, k) for k in keys} | {"system": SYSTEM}


def system_turn_cost(tokenizer, pairs, sizes, steps: int = 8) -> dict:
    """With the template's default system turn (None) and with an empty one (""): tokens per
    training chat, the time of a LoRA training step (mean of `steps`), zero-shot validation chrF."""
    model, val, train, out = load_model(MODEL), pairs["validation"], pairs["train"], {}
    for name, system in (("default", None), ("empty", "")):
        chats = encode_pairs(tokenizer, train.source, train.target, system=system)
        hyps = translate(model, tokenizer, val.source, val.target, batch_size=sizes.gen_batch, system=system)
        config = TrainConfig(lr=sizes.pilot_lr, max_steps=min(steps, max(1, len(chats) // sizes.batch_size)),
                             batch_size=sizes.batch_size, seed=0, progress=False)
        timed = fit(build_model("q/v", sizes, 0), chats, None, config, collate_fn=collator(tokenizer))
        out[name] = {"tokens_per_chat": float(np.mean([len(ids) for ids in chats["input_ids"]])),
                     "ms_per_step": 1000 * timed.train_time_s / timed.steps,
                     "zero_shot_val_chrf": corpus_scores(hyps.hypotheses, val.target)["chrf"]}
    return out


def pilot_curve(tokenizer, train_pairs, val, sizes) -> list[dict]:
    """One pilot fit on `train_pairs`: validation loss (fit's own evaluation, as in the rate searches)
    and chrF after each epoch (no best weights restored: each row is the model as that epoch left it)."""
    train = encode_pairs(tokenizer, train_pairs.source, train_pairs.target)
    val_enc = encode_pairs(tokenizer, val.source, val.target)
    model, scored, start = build_model("q/v", sizes, 0), {}, time.perf_counter()

    def score(epoch: int):
        hyps = translate(model, tokenizer, val.source, val.target, batch_size=sizes.gen_batch)
        scored[epoch] = corpus_scores(hyps.hypotheses, val.target)["chrf"], time.perf_counter() - start
        model.train()

    config = TrainConfig(lr=sizes.pilot_lr, epochs=sizes.pilot_epochs, batch_size=sizes.batch_size, eval_batch_size=16,
                         warmup_ratio=0.1, seed=0, restore_best=False, log_every=1, progress=False)
    result = fit(model, train, val_enc, config, collate_fn=collator(tokenizer),
                 on_epoch=lambda epoch: epoch and score(epoch))
    score(sizes.pilot_epochs)
    losses = {round(row["epoch"]): row["eval_loss"] for row in result.history if "eval_loss" in row}
    return [{"pairs": len(train), "epoch": epoch, "val_loss": losses[epoch], "val_chrf": chrf, "seconds": seconds}
            for epoch, (chrf, seconds) in scored.items()]


def run_sft(method: str, seed: int = 0, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """Fine-tune on the seed's Bible pairs at the rate chosen on validation (choose_rate: the first
    seed's winner is not trained again), then score it on the test verses; the first seed's model
    also measures what the fine-tune cost (cost_measures: one model per method, which keeps the CPU
    run short)."""
    profile = profile or get_profile()
    sizes, (adapters, answer_only) = translate_sizes(profile.name), SFT_METHODS[method]
    lora = adapters is not None
    path, provenance = result_file(method, "bible_fr_en", seed, profile, out_dir), asked("bible_fr_en", sizes, seed)
    if cached := _cached(path, skip_existing, provenance):
        return cached
    tokenizer = load_tokenizer(MODEL)
    pairs = translation_pairs("bible_fr_en", sizes, seed)
    train = encode_pairs(tokenizer, pairs["train"].source, pairs["train"].target, answer_only)
    with PeakTracker() as mem:
        choice = choose_rate(method, profile, out_dir)
        if choice.winner and seed == first_seed(method, sizes):
            best = choice.winner[1]
        else:
            val = encode_pairs(tokenizer, pairs["validation"].source, pairs["validation"].target)
            config = SFTSettings(lr=choice.value, epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed)
            best = fit_sft(build_model(adapters, sizes, seed), train, val, tokenizer, config)
    test = pairs["test"]
    out = translate(best.model, tokenizer, test.source, test.target, batch_size=sizes.gen_batch)
    if lora:
        save_adapter(best.model, adapter_dir(method, seed, profile))
    res = best.result
    costs = cost_measures(best.model, tokenizer, sizes, profile) if seed == first_seed(method, sizes) else {}
    return _write(path, (method, "bible_fr_en", seed, profile), test, out, {"val_loss": best.val_loss} | costs,
                  trainable_params=res.trainable_params, total_params=res.total_params,
                  wall_time_s=best.seconds + out.seconds, peak_memory_mb=mem.mb,
                  checkpoint_size_mb=saved_size_mb(best.model), lr=best.lr, candidates=choice.candidates,
                  **search_fields(choice),
                  answer_only=answer_only, lora=lora, adapters=adapters, train_pairs=len(train),
                  learned_tokens=learned_tokens(train),
                  train_tokens=sum(map(len, train["input_ids"])) * sizes.epochs, steps=res.steps,
                  train_time_s=res.train_time_s, tokens_per_s=res.tokens_per_s, precision=res.precision,
                  **provenance)


def domain_method(n) -> str:
    """Result name of the domain experiment with n interface pairs (0: none, None: all)."""
    return "bible-sft-lora" + ("" if n == 0 else f"-n{'all' if n is None else n}")


def run_domain(n, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """The Bible LoRA model (DOMAIN_BASE, first seed) on the interface strings: as it is (n=0), or
    after one more fine-tune on n interface pairs (None: all) at the rate the Bible run chose."""
    profile = profile or get_profile()
    sizes = translate_sizes(profile.name)
    seed = sizes.seeds[0]
    path = result_file(domain_method(n), "jupyter_fr_en", seed, profile, out_dir)
    bible = run_sft(DOMAIN_BASE, seed, out_dir, profile=profile)
    provenance = asked("jupyter_fr_en", replace(sizes, train_pairs=n), seed) | {
        "bible_model": {"lr": bible["lr"], "val_loss": bible["metrics"]["val_loss"]}}  # the model it starts from
    if cached := _cached(path, skip_existing, provenance):
        return cached
    if not adapter_dir(DOMAIN_BASE, seed, profile).exists():  # result file present, adapter not
        bible = run_sft(DOMAIN_BASE, seed, out_dir, skip_existing=False, profile=profile)
    tokenizer = load_tokenizer(MODEL)
    adapter = adapter_dir(DOMAIN_BASE, seed, profile)
    model = load_adapter(load_model(MODEL), adapter, trainable=True)
    pairs = translation_pairs("jupyter_fr_en", replace(sizes, train_pairs=n), seed)
    start, train_pairs, metrics = time.perf_counter(), len(pairs["train"]), {}
    config = SFTSettings(lr=bible["lr"], epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed)
    with PeakTracker() as mem:
        if train_pairs:
            train, val = (encode_pairs(tokenizer, pairs[s].source, pairs[s].target)
                          for s in ("train", "validation"))
            metrics["val_loss"] = fit_sft(model, train, val, tokenizer, config).val_loss
        test = pairs["test"]
        out = translate(model, tokenizer, test.source, test.target, batch_size=sizes.gen_batch)
    trainable, total = count_params(model)
    return _write(path, (domain_method(n), "jupyter_fr_en", seed, profile), test, out, metrics,
                  trainable_params=trainable, total_params=total,
                  wall_time_s=time.perf_counter() - start, peak_memory_mb=mem.mb, checkpoint_size_mb=None,
                  in_domain_pairs=train_pairs, lr=bible["lr"], **provenance)


def run_lesson(profile=None, skip_existing: bool = True) -> None:
    """Every experiment of the lesson in the order the lesson runs them (what `make results` runs);
    each reads its result file instead of rerunning while the file stands for it."""
    profile = profile or get_profile()
    sizes = translate_sizes(profile.name)
    steps = [lambda: run_pilot(skip_existing=skip_existing, profile=profile)]
    steps += [lambda k=k, s=s: run_prompting(k, s, skip_existing=skip_existing, profile=profile)
              for k in (0, 1, 3) for s in sizes.prompt_seeds]  # k = 0 is greedy: every seed alike
    steps += [lambda m=m, s=s: run_sft(m, s, skip_existing=skip_existing, profile=profile)
              for m in SFT_METHODS for s in (sizes.seeds if SFT_METHODS[m][0] else sizes.full_seeds)]
    steps += [lambda: run_prompting(0, data="jupyter_fr_en", skip_existing=skip_existing, profile=profile)]
    steps += [lambda n=n: run_domain(n, skip_existing=skip_existing, profile=profile) for n in (0, *sizes.domain_sizes)]
    for step in tqdm(steps, desc="lesson 10: runs"):
        step()


def _runs(folder, data: str):
    frame = load_results(folder)
    if frame.empty:
        raise FileNotFoundError(f"no result files under {Path(folder).name}/: run the lesson's cells first")
    return frame[(frame.data == data) & (frame.model == MODEL)]


def translation_table(folder, data: str = "bible_fr_en"):
    """One row per method (METHODS order): test chrF and BLEU mean ± std over seeds, the paired
    chrF difference from 3-shot prompting on the same test verses, the rate chosen and the cost."""
    frame, rows = _runs(folder, data), []
    ref = frame[frame.method == "fewshot-3"]
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        rows.append({"method": method, "what it does": METHODS[method], "chrF": mean_std(runs.metric_chrf, 1),
                     "BLEU": mean_std(runs.metric_bleu, 1), "seeds": len(runs),
                     "Δ chrF vs fewshot-3 (95% interval)": paired_difference(runs, ref, "sentence_chrf", 1.0)
                     if method != "fewshot-3" else "—",
                     "learning rate": f"{runs.lr.iloc[0]:g}" if "lr" in runs and runs.lr.notna().any() else "—",
                     "trainable params": f"{int(runs.trainable_params.iloc[0]):,}",
                     **cost_columns(runs), "saved MB": f"{runs.checkpoint_size_mb.mean():.3g}",
                     "s / sentence": f"{runs.seconds_per_sentence.mean():.2f}"})
    return pd.DataFrame(rows)


def domain_table(folder):
    """chrF and BLEU on the interface strings: the pretrained model, the Bible model, and the Bible
    model after 1 .. all in-domain pairs; the Bible model on its own test verses for reference."""
    jupyter, bible = _runs(folder, "jupyter_fr_en"), _runs(folder, "bible_fr_en")
    base = bible[(bible.method == DOMAIN_BASE) & (bible.seed == bible[bible.method == DOMAIN_BASE].seed.min())]
    rows = [{"model": f"{DOMAIN_BASE} (Bible test verses)", "in-domain pairs": 0,
             "chrF": base.metric_chrf.iloc[0], "BLEU": base.metric_bleu.iloc[0]}]
    zero = jupyter[jupyter.method == "zeroshot"]
    rows += [{"model": "zeroshot", "in-domain pairs": 0, "chrF": r.metric_chrf, "BLEU": r.metric_bleu}
             for r in zero.itertuples()]
    domain = jupyter[jupyter.method.str.startswith("bible-sft-lora")].sort_values("in_domain_pairs")
    rows += [{"model": r.method, "in-domain pairs": int(r.in_domain_pairs), "chrF": r.metric_chrf,
              "BLEU": r.metric_bleu} for r in domain.itertuples()]
    return pd.DataFrame(rows).round(1)


def cost_table(folder):
    """News perplexity and zero-shot sentiment accuracy: the pretrained model, then after each
    fine-tune (its first seed's model, the one run_sft measures), with the change."""
    frame = _runs(folder, "bible_fr_en")
    frame = frame[frame.method.isin(["zeroshot", *SFT_METHODS])].dropna(subset=["metric_news_ppl"])
    table = frame.groupby("method")[["metric_news_ppl", "metric_sentiment_acc"]].mean()
    table = table.reindex([m for m in ["zeroshot", *SFT_METHODS] if m in table.index])
    table = table.rename(index={"zeroshot": "pretrained (no fine-tune)"})
    table.columns = ["news perplexity", "sentiment accuracy %"]
    table["sentiment accuracy %"] *= 100
    before = table.iloc[0]
    table["perplexity change %"] = 100 * (table["news perplexity"] / before["news perplexity"] - 1)
    table["sentiment change (pts)"] = table["sentiment accuracy %"] - before["sentiment accuracy %"]
    return table.round(1)


def compare(folder, a: str, b: str, data: str = "bible_fr_en") -> tuple:
    """Paired chrF difference a - b on the same test sentences (per sentence, averaged over the seeds
    both ran): (mean, low, high) of its 95% t interval over the sentences, and the seeds used."""
    return seed_paired(_runs(folder, data), a, b, "sentence_chrf")


def samples(folder, methods, data: str = "bible_fr_en", n: int = 5):
    """The first n test sentences: source, reference and each method's translation (first seed)."""
    frame = _runs(folder, data)
    test = translation_pairs(data, translate_sizes())["test"].head(n)
    table = pd.DataFrame({"French": test.source, "reference": test.target})
    for method in methods:
        runs = frame[frame.method == method].sort_values("seed")
        table[method] = list(runs.hypotheses.iloc[0])[:n]
    return table


def carries_bible_words(hypothesis: str, reference: str) -> bool:
    """Whether a translation holds a word of BIBLE_WORDS that its reference does not."""
    def words(text):
        return set(re.findall(r"[a-z]+", text.lower()))
    return bool((words(hypothesis) - words(reference)) & set(BIBLE_WORDS))


def bible_word_shares(folder, methods, data: str = "jupyter_fr_en") -> dict:
    """{method: (sentences,) 100 where its first seed's translation carries a Bible word the
    reference lacks, else 0}, for the methods that have results on `data`."""
    frame = _runs(folder, data)
    references = translation_pairs(data, translate_sizes(frame.profile.iloc[0]))["test"].target
    return {m: 100.0 * np.array([carries_bible_words(h, r) for h, r in zip(
        frame[frame.method == m].sort_values("seed").hypotheses.iloc[0], references)])
        for m in methods if m in set(frame.method)}


def bible_words(folder, methods, data: str = "jupyter_fr_en") -> pd.DataFrame:
    """Per method: the share of test translations that carry a Bible word their reference lacks,
    and its paired difference from the first method on the same sentences."""
    share = bible_word_shares(folder, methods, data)
    base = next(iter(share))
    rows = [{"model": m, "translations with a Bible word the reference lacks %": v.mean(),
             f"Δ vs {base} (95% interval)": "—" if m == base else
             "{:+.1f} ({:+.1f} to {:+.1f})".format(*paired_bootstrap(v, share[base]))} for m, v in share.items()]
    return pd.DataFrame(rows).round(1)


def plot_pilot(curve, title: str | None = None):
    """The pilot's validation chrF and loss against epochs, one line per training-pair count."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for n, rows in curve.groupby("pairs"):
        for ax, column in zip(axes, ("val_chrf", "val_loss")):
            ax.plot(rows.epoch, rows[column], marker="o", label=f"{n} pairs")
    axes[0].set(xlabel="epoch", ylabel="validation chrF")
    axes[1].set(xlabel="epoch", ylabel="validation loss (answer tokens)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title or "Pilot on validation")
    fig.tight_layout()
    return fig

def plot_recovery(table, title: str | None = None):
    """chrF on the interface strings against the in-domain pairs added to the Bible model, with the
    pretrained model (zero-shot) and the Bible model on its own test verses as reference lines."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    curve = table[table.model.str.startswith("bible-sft-lora")]
    ax.plot(curve["in-domain pairs"], curve.chrF, marker="o", label="Bible LoRA model + interface pairs")
    for label, style in (("zeroshot", "--"), (f"{DOMAIN_BASE} (Bible test verses)", ":")):
        rows = table[table.model == label]
        if len(rows):
            ax.axhline(rows.chrF.mean(), linestyle=style, color="gray", label=label)
    ax.set(xlabel="interface-string pairs trained on", ylabel="chrF on interface strings",
           title=title or "Domain shift and recovery")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
