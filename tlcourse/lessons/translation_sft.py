"""Lesson 10's experiments: SmolLM2 translating French into English, each run one result JSON.

    run_prompting(k=0)                      # zero-shot on the fixed Bible test verses
    run_prompting(k=3, seed=1)              # few-shot: 3 training pairs as earlier turns of the chat
    run_sft("sft-lora-answer", seed=0)      # LoRA, loss on the answer; learning rate chosen on validation
    run_domain(200)                         # the Bible LoRA model + 200 interface pairs, on interface strings
    translation_table(RESULTS / "cpu")      # mean ± std over seeds, built from the files
A result file is read instead of rerun while it stands for the run asked now (protocol.stored: the
lesson's sizes, the protocol, the data and, for the domain runs, the Bible model they start from).
"""
import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.config import RESULTS, RUNS, get_profile
from ..engine.data import take
from ..engine.device import seed_everything
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params
from ..engine.records import load_results, mean_std, result_name, write_result
from ..engine.train import evaluate
from ..methods.lm import pack_blocks
from ..methods.lora import add_lora, save_adapter
from ..methods.sft import encode_pairs, fit_sft, learned_tokens, SFTSettings
from ..methods.translate import corpus_scores, sentence_chrf, translate, translate_sizes, translation_pairs
from ..methods.zeroshot import label_logprobs, Prompt
from .method_grid import saved_size_mb
from .protocol import LOSS, search, seed_paired, stored, VERSION

MODEL = "smollm2-135m"
SFT_METHODS = {  # method -> (LoRA adapters?, loss on the answer only?)
    "sft-lora-answer": (True, True),
    "sft-lora-every": (True, False),
    "sft-full-answer": (False, True),
}
METHODS = {  # method -> what it does (for tables)
    "zeroshot": "no training: one user turn, \"Translate to English: ...\"",
    "fewshot-1": "no training: 1 training pair as an earlier turn of the chat",
    "fewshot-3": "no training: 3 training pairs as earlier turns of the chat",
    "sft-lora-answer": "LoRA adapters on q/v; loss on the answer tokens only",
    "sft-lora-every": "LoRA adapters on q/v; loss on every token (system, user, answer)",
    "sft-full-answer": "every weight; loss on the answer tokens only",
}
DOMAIN_BASE = "sft-lora-answer"  # the Bible model the domain experiment starts from (first seed)


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
    costs = cost_measures(model, tokenizer, sizes, profile) if k == 0 and data == "bible_fr_en" else {}
    total = count_params(model)[1]
    return _write(path, (method, data, seed, profile), test, out, costs, trainable_params=0,
                  total_params=total, wall_time_s=out.seconds, peak_memory_mb=mem.mb,
                  checkpoint_size_mb=0.0, k=k, examples=examples, **provenance)


def build_model(lora: bool, sizes, seed: int):
    """SmolLM2 as loaded, wrapped in LoRA adapters (rank sizes.lora_r, seeded) for LoRA runs."""
    seed_everything(seed)
    model = load_model(MODEL)
    return add_lora(model, r=sizes.lora_r) if lora else model


def first_seed(method: str, sizes) -> int:
    return (sizes.seeds if SFT_METHODS[method][0] else sizes.full_seeds)[0]


def choose_rate(method: str, profile, out_dir=None):
    """The method's rate by validation loss on the answer tokens at its first seed (protocol.search
    over its grid); Choice.winner holds the winner's (record, SFTRun) when trained in this call."""
    sizes, (lora, answer_only) = translate_sizes(profile.name), SFT_METHODS[method]
    seed, tokenizer = first_seed(method, sizes), load_tokenizer(MODEL)
    pairs = translation_pairs("bible_fr_en", sizes, seed)
    train = encode_pairs(tokenizer, pairs["train"].source, pairs["train"].target, answer_only)
    val = encode_pairs(tokenizer, pairs["validation"].source, pairs["validation"].target)

    def validate(lr):
        config = SFTSettings(lr=lr, epochs=sizes.epochs, batch_size=sizes.batch_size, seed=seed)
        run = fit_sft(build_model(lora, sizes, seed), train, val, tokenizer, config)
        return {"val_loss": run.val_loss}, run

    name, provenance = result_file(method, "bible_fr_en", seed, profile).stem, asked("bible_fr_en", sizes, seed)
    return search(name, sizes.lora_lrs if lora else sizes.full_lrs, validate, Path(out_dir or RESULTS / profile.name),
                  lambda lr: provenance | {"lr": lr}, score=LOSS,
                  describe=lambda lr, r: {"lr": lr, "val_loss": r["val_loss"]})


def run_sft(method: str, seed: int = 0, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """Fine-tune on the seed's Bible pairs at the rate chosen on validation (choose_rate: the first
    seed's winner is not trained again), then score it on the test verses; the first seed's model
    also measures what the fine-tune cost (cost_measures: one model per method, which keeps the CPU
    run short)."""
    profile = profile or get_profile()
    sizes, (lora, answer_only) = translate_sizes(profile.name), SFT_METHODS[method]
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
            best = fit_sft(build_model(lora, sizes, seed), train, val, tokenizer, config)
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
                  answer_only=answer_only, lora=lora, train_pairs=len(train), learned_tokens=learned_tokens(train),
                  train_tokens=sum(map(len, train["input_ids"])) * sizes.epochs, steps=res.steps,
                  train_time_s=res.train_time_s, tokens_per_s=res.tokens_per_s, precision=res.precision,
                  **provenance)


def domain_method(n) -> str:
    """Result name of the domain experiment with n interface pairs (0: none, None: all)."""
    return "bible-sft-lora" + ("" if n == 0 else f"-n{'all' if n is None else n}")


def run_domain(n, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """The Bible LoRA model (DOMAIN_BASE, first seed) on the interface strings: as it is (n=0), or
    after one more fine-tune on n interface pairs (None: all) at the rate the Bible run chose."""
    from peft import PeftModel
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
    model = PeftModel.from_pretrained(load_model(MODEL), adapter, is_trainable=True)
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


def _runs(folder, data: str):
    frame = load_results(folder)
    if frame.empty:
        raise FileNotFoundError(f"no result files under {Path(folder).name}/: run the lesson's cells first")
    return frame[(frame.data == data) & (frame.model == MODEL)]


def translation_table(folder, data: str = "bible_fr_en"):
    """One row per method (METHODS order): test chrF and BLEU mean ± std over seeds, and the cost."""
    frame, rows = _runs(folder, data), []
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        rows.append({"method": method, "what it does": METHODS[method], "chrF": mean_std(runs.metric_chrf, 1),
                     "BLEU": mean_std(runs.metric_bleu, 1), "seeds": len(runs),
                     "learning rate": f"{runs.lr.iloc[0]:g}" if "lr" in runs and runs.lr.notna().any() else "—",
                     "trainable params": f"{int(runs.trainable_params.iloc[0]):,}",
                     "time s": f"{runs.wall_time_s.mean():.0f}", "peak MB": f"{runs.peak_memory_mb.median():.0f}",
                     "saved MB": f"{runs.checkpoint_size_mb.mean():.3g}",
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
