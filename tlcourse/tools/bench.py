"""Benchmark: tlcourse.fit against transformers.Trainer on one sequence-classification job.

Both sides get the same model weights (the head initialised from one seed), the same examples,
batch size, truncation length, dynamic padding, optimizer (fused AdamW, the Trainer default),
learning rate, linear schedule without warmup, clipping at 1.0, precision and number of steps.
The one difference is each side's default sampling: tlcourse groups examples of similar length
(less padding), Trainer samples at random; both pad each batch to its longest example. Each side runs `repeats` times, alternating which goes first, after one
untimed warm-up run each. Throughput is examples per second of the whole training call.
"""
import json
import os
import statistics
import tempfile
import time
from functools import cache
from pathlib import Path

import torch

from ..engine.data import tokenize
from ..engine.device import mixed_precision
from ..engine.loaders import load_dataset, load_model, load_tokenizer, resolve_model
from ..engine.models import classifier
from ..engine.records import hardware, versions
from ..engine.telemetry import flops_per_token, model_flops_utilisation, PEAK_FLOPS
from ..engine.train import fit, TrainConfig
from ..methods.features import embed
from ..methods.lm import pack_blocks

SIDES = {
    "tlcourse": "tlcourse.fit: Accelerate loop; SeededSampler with length grouping (transformers' "
                "get_length_grouped_indices); DataCollatorWithPadding; fused AdamW; progress bar off; "
                "NaN check at each log row; history row every `steps` steps",
    "trainer": "transformers.Trainer with its defaults (random sampling; dynamic padding) except: "
               "save_strategy='no', report_to='none', disable_tqdm=True, max_steps, batch size, lr, "
               "precision; optim default (adamw_torch_fused); same data collator",
}


def matmul_peak(dtype, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n x n by n x n matmul in `dtype` (median of `reps`, after one warm-up)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times)


@cache
def peak_flops(precision: str) -> float:
    """The peak a run in `precision` ("bf16", "fp16", "no") is measured against: a GPU's dense bf16
    figure from telemetry.PEAK_FLOPS; on a CPU, matmul_peak in bf16, or fp32 for "no"."""
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return next((v for k, v in PEAK_FLOPS.items() if k in name), float("nan"))
    return matmul_peak(torch.bfloat16 if precision == "bf16" else torch.float32)


class CountingCollator:
    """Pads like the collator it wraps, and counts tokens so both sides can be shown to do the same work."""

    def __init__(self, collate):
        self.collate, self.padded, self.real = collate, 0, 0

    def __call__(self, examples):
        batch = self.collate(examples)  # input_ids, attention_mask: (B, T), T = longest in the batch
        self.padded += batch["input_ids"].numel()
        self.real += int(batch["attention_mask"].sum())
        return batch


def _dataset(tokenizer, texts, labels, n, max_length):
    from datasets import Dataset

    texts, labels = list(texts), list(labels)
    texts, labels = [texts[i % len(texts)] for i in range(n)], [int(labels[i % len(labels)]) for i in range(n)]
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    return Dataset.from_dict(dict(enc) | {"label": labels})


def _model(model_dir, seed):
    from transformers import AutoModelForSequenceClassification, set_seed

    set_seed(seed)  # the new classification head is drawn from this seed: both sides start alike
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    if model.config.pad_token_id is None:  # decoder LMs ship without one; the collator pads with EOS
        model.config.pad_token_id = model.config.eos_token_id
    return model


def run_tlcourse(model_dir, data, collate, steps, batch_size, lr, seed, precision):

    model = _model(model_dir, seed)
    cfg = TrainConfig(lr=lr, max_steps=steps, batch_size=batch_size, warmup_ratio=0.0, weight_decay=0.0,
                      max_grad_norm=1.0, schedule="linear", group_by_length=True, mixed_precision=precision,
                      log_every=steps, progress=False, seed=seed)
    t0 = time.perf_counter()
    result = fit(model, data, None, cfg, collate_fn=collate)
    return time.perf_counter() - t0, result.train_loss, result.peak_memory_mb if torch.cuda.is_available() else None


def run_trainer(model_dir, data, collate, steps, batch_size, lr, seed, precision):
    from transformers import Trainer, TrainingArguments

    model = _model(model_dir, seed)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=batch_size,
                                 learning_rate=lr, seed=seed,
                                 save_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=0,
                                 bf16=precision == "bf16", fp16=precision == "fp16",
                                 use_cpu=not torch.cuda.is_available())  # Trainer runs bf16 on a CPU only when told
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        output = trainer.train()
        seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return seconds, output.training_loss, peak


def bench_trainer(model_dir, texts, labels, steps=30, batch_size=16, max_length=64, repeats=3, out_json=None,
                  lr=5e-5, seed=0, gpu=False, model_name=None):
    """Time both trainers; print and return (and write to `out_json`) a dict with throughputs and their ratio.

    texts, labels: training examples (reused cyclically to fill steps * batch_size; one epoch exactly).
    gpu: also report peak GPU memory and model FLOPs utilisation. model_name: how the JSON names the model.
    """
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # no load report (the new head's weights are "missing") for each of the runs
    try:
        report = _bench(model_dir, texts, labels, steps, batch_size, max_length, repeats, lr, seed, gpu)
        report["model"] = model_name or Path(model_dir).name
    finally:
        logging.set_verbosity(verbosity)
    print(json.dumps({k: report[k] for k in ("ratio", "ratio_per_repeat")}
                     | {s: report[s]["examples_per_s_median"] for s in ("tlcourse", "trainer")}
                     | {f"{s} share of peak": report[s]["share_of_peak"] for s in ("tlcourse", "trainer")}, indent=1))
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def _bench(model_dir, texts, labels, steps, batch_size, max_length, repeats, lr, seed, gpu):
    from transformers import AutoTokenizer, DataCollatorWithPadding


    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    data = _dataset(tokenizer, texts, labels, steps * batch_size, max_length)
    precision = mixed_precision("auto")
    runners = {"tlcourse": run_tlcourse, "trainer": run_trainer}
    runs = {side: [] for side in runners}
    for side, runner in runners.items():  # warm-up: first-call costs (allocator, kernels) paid by neither side
        runner(model_dir, data, DataCollatorWithPadding(tokenizer), min(3, steps), batch_size, lr, seed, precision)
    for r in range(repeats):
        for side in (("tlcourse", "trainer") if r % 2 == 0 else ("trainer", "tlcourse")):
            collate = CountingCollator(DataCollatorWithPadding(tokenizer))
            seconds, loss, peak = runners[side](model_dir, data, collate, steps, batch_size, lr, seed, precision)
            runs[side].append({"seconds": seconds, "examples_per_s": steps * batch_size / seconds,
                               "padded_tokens": collate.padded, "real_tokens": collate.real,
                               "train_loss_mean": loss, "peak_memory_mb": peak})
    report = {"steps": steps, "batch_size": batch_size, "max_length": max_length,
              "repeats": repeats, "lr": lr, "precision": precision, "sides": SIDES,
              "hardware": hardware(), "versions": versions()}
    for side, rs in runs.items():
        report[side] = {"examples_per_s_median": statistics.median(r["examples_per_s"] for r in rs),
                        "train_loss_mean_last": rs[-1]["train_loss_mean"], "runs": rs}
    report["ratio"] = report["tlcourse"]["examples_per_s_median"] / report["trainer"]["examples_per_s_median"]
    report["ratio_per_repeat"] = [a["examples_per_s"] / b["examples_per_s"]
                                  for a, b in zip(runs["tlcourse"], runs["trainer"])]
    model, report["peak_flops"] = _model(model_dir, seed), peak_flops(precision)
    for side, rs in runs.items():
        for r in rs:
            r["flops_per_s"] = flops_per_token(model, r["padded_tokens"] / (steps * batch_size)) * r["real_tokens"] / r["seconds"]
        report[side]["share_of_peak"] = statistics.median(r["flops_per_s"] for r in rs) / report["peak_flops"]
    if gpu and torch.cuda.is_available():
        for side, rs in runs.items():
            report[side]["mfu"] = [model_flops_utilisation(torch.device("cuda"),
                                                           flops_per_token(model, r["padded_tokens"] / (steps * batch_size)),
                                                           r["real_tokens"], r["seconds"]) for r in rs]
    return report


def bench_course_model(steps=30, batch_size=16, max_length=64, repeats=3, gpu=False,
                       out_json="results/bench/bench_trainer.json", model="minilm-l6"):
    """bench_trainer on a course model: Rotten Tomatoes snippets, or for lengths past 128 tokens BBC
    articles (long enough to fill 512 tokens), labelled business or not."""
    if max_length <= 128:
        train = load_dataset("rotten_tomatoes")["train"]
        texts, labels = train["text"], train["label"]
    else:
        train = load_dataset("bbc_news")["train"]
        texts, labels = train["text"], [int(y == 0) for y in train["label"]]
    return bench_trainer(resolve_model(model), texts, labels, steps, batch_size, max_length, repeats, out_json,
                         gpu=gpu, model_name=model)


PRECISION_WORKLOADS = {
    "minilm_train": "MiniLM-L6 classifier, tlcourse.fit, batch 16 x 64 tokens: training examples/s",
    "minilm_embed": "MiniLM-L6 mean-pooled embedding (features.embed), batch 64 x 64 tokens: texts/s",
    "smollm2_train": "SmolLM2-135M causal LM, tlcourse.fit, batch 8 x 64 tokens: training examples/s",
}


def _precision_workloads(texts, labels, steps):
    """{name: run(precision) -> (examples per second, FLOP/s)}, each on real course models and texts.
    FLOP/s: telemetry.flops_per_token at 64 positions times the real tokens per second; embedding
    is a forward pass alone, a third of training's count."""
    from datasets import Dataset
    mini_tok, smol_tok = load_tokenizer("minilm-l6"), load_tokenizer("smollm2-135m")
    cls = tokenize(Dataset.from_dict({"text": texts[:16 * steps], "label": labels[:16 * steps]}), mini_tok, 64)
    blocks = pack_blocks(texts, smol_tok, block_size=64, n_blocks=8 * steps)
    encoder, lm = load_model("minilm-l6", task="base"), load_model("smollm2-135m", task="causal-lm")

    def train(model, data, batch, tok, precision):
        cfg = TrainConfig(lr=1e-5, max_steps=steps, batch_size=batch, mixed_precision=precision,
                          log_every=steps, progress=False)
        result = fit(model, data, None, cfg, tokenizer=tok)
        return result.examples_per_s, flops_per_token(model, 64) * result.tokens_per_s

    embedded = texts[:64 * steps]
    embed_tokens = sum(len(ids) for ids in mini_tok(embedded, truncation=True, max_length=64)["input_ids"])

    def embedding(precision):
        os.environ["TLCOURSE_PRECISION"] = "fp32" if precision == "no" else precision
        try:
            start = time.perf_counter()
            embed(encoder, mini_tok, embedded, max_length=64, progress=False)
            seconds = time.perf_counter() - start
            return len(embedded) / seconds, flops_per_token(encoder, 64) / 3 * embed_tokens / seconds
        finally:
            os.environ.pop("TLCOURSE_PRECISION")

    return {"minilm_train": lambda p: train(classifier("minilm-l6", 2), cls, 16, mini_tok, p),
            "minilm_embed": embedding,
            "smollm2_train": lambda p: train(lm, blocks, 8, None, p)}


def bench_precision(steps: int = 4, repeats: int = 3, out_json="results/bench/bench_precision.json"):
    """bf16 autocast vs fp32 throughput for three course workloads, alternating, in one process.

    Each workload runs once untimed in each precision, then `repeats` times each, alternating which
    precision goes first; the ratio is median bf16 throughput / median fp32 throughput."""
    train = load_dataset("rotten_tomatoes")["train"]
    runs = _precision_workloads(list(train["text"][:1024]), list(train["label"][:1024]), steps)
    report = {"steps": steps, "repeats": repeats, "workloads": PRECISION_WORKLOADS,
              "hardware": hardware(), "versions": versions()}
    report["peak_flops"] = {"bf16": peak_flops("bf16"), "fp32": peak_flops("no")}
    for name, run in runs.items():
        run("bf16"), run("no")  # warm-up: first-call costs paid by neither side
        speeds, flops = {"bf16": [], "no": []}, {"bf16": [], "no": []}
        for r in range(repeats):
            for p in (("bf16", "no") if r % 2 == 0 else ("no", "bf16")):
                per_s, flop_s = run(p)
                speeds[p].append(per_s), flops[p].append(flop_s)
        ratio = statistics.median(speeds["bf16"]) / statistics.median(speeds["no"])
        share = {p: statistics.median(flops[p]) / peak_flops(p) for p in flops}
        report[name] = {"bf16_per_s": speeds["bf16"], "fp32_per_s": speeds["no"], "ratio": ratio,
                        "bf16_flops_per_s": flops["bf16"], "fp32_flops_per_s": flops["no"],
                        "bf16_share_of_peak": share["bf16"], "fp32_share_of_peak": share["no"]}
        print(f"{name:14s} bf16 / fp32 = {ratio:.2f}; of each precision's matmul peak: bf16 {share['bf16']:.1%}, "
              f"fp32 {share['no']:.1%}  ({PRECISION_WORKLOADS[name]})")
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report
