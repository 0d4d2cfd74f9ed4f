"""Benchmark: the LLM fine-tunes against this machine's peak, and the levers that speed them up.

    bench_llm()   # `tlcourse bench llm`: results/bench/bench_llm.json

1. The peak: a large square matmul in fp32 and in bf16 (a measured roofline; on a CPU with AMX the
   bf16 one is several times the fp32 one).
2. One LoRA step of SmolLM2-135M on lesson 10's chats (adapters of rank 16 on every linear layer,
   8 chats, loss on the answer), as the course ran it before (`RECIPES["before"]`) and with each
   lever alone and all together. Every recipe's model is built once; then each times `steps`
   optimizer steps in turn, `repeats` rounds, the order rotating: the ratios are medians of one run.
   Achieved FLOP/s counts the model's nominal work (telemetry.flops_per_token over every position,
   whichever recipe skips some), against the peak of the precision it runs in.
3. A torch.profiler table of one step of the first and the last recipe: where the time goes.
"""
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..engine.device import autocast, mixed_precision
from ..engine.lm_loss import adapters_uncast, labelled_loss
from ..engine.loaders import load_model, load_tokenizer
from ..engine.records import hardware, versions
from ..engine.telemetry import flops_per_token
from ..methods.lora import add_lora, ALL_LINEAR
from ..methods.sft import collator, encode_pairs
from ..lessons.translation_sft import translate_sizes
from ..methods.translate import translation_pairs
from .bench import matmul_peak, peak_flops

MODEL = "smollm2-135m"


@dataclass(frozen=True)
class Recipe:
    dropout: float  # LoRA dropout on the adapters' input
    attention: str  # transformers' attn_implementation: "sdpa" (torch's fused kernel) or "eager"
    bf16_base: bool  # frozen weights stored in bf16 (add_lora does this where the course computes in bf16)
    labelled_loss: bool  # output layer and loss only on the labelled positions (engine.lm_loss)
    cast_inputs: bool = True  # LoRA layers cast their bf16 input to the adapters' fp32 (peft's default)


BEFORE = Recipe(dropout=0.1, attention="sdpa", bf16_base=False, labelled_loss=False)
RECIPES = {  # name -> recipe: the course before, each lever alone, all of them (what the course runs now)
    "before": BEFORE,
    "dropout 0": Recipe(0.0, "sdpa", False, False),
    "eager attention": Recipe(0.1, "eager", False, False),
    "bf16 frozen weights": Recipe(0.1, "sdpa", True, False),
    "loss on labels only": Recipe(0.1, "sdpa", False, True),
    "bf16 + uncast inputs": Recipe(0.1, "sdpa", True, False, cast_inputs=False),
    "all": Recipe(0.0, "eager", True, True, cast_inputs=False),
}


def lesson10_batches(n_batches: int, batch_size: int = 8) -> list[dict]:
    """Padded batches of lesson 10's first training chats (answer-only labels), (B, T) each."""
    tokenizer = load_tokenizer(MODEL)
    pairs = translation_pairs("bible_fr_en", translate_sizes("cpu"), 0)["train"]
    n = n_batches * batch_size
    chats = list(encode_pairs(tokenizer, pairs.source[:n], pairs.target[:n], answer_only=True))
    pad = collator(tokenizer)
    return [pad(chats[i:i + batch_size]) for i in range(0, n, batch_size)]


class Run:
    """One recipe's model and optimizer, stepping through the batches."""

    def __init__(self, recipe: Recipe):
        torch.manual_seed(0)
        model = load_model(MODEL, attn_implementation=recipe.attention)
        self.model = add_lora(model, r=16, target_modules=ALL_LINEAR, dropout=recipe.dropout)
        if not recipe.bf16_base:
            self.model.float()
        self.recipe, self.seconds = recipe, []
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=1e-4,
                                           fused=True)
        self.model.train()

    def step(self, batch) -> float:
        with autocast(self.model), adapters_uncast(self.model, not self.recipe.cast_inputs):
            loss = labelled_loss(self.model, batch) if self.recipe.labelled_loss else None
            loss = self.model(**batch).loss if loss is None else loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()

    def timed(self, batches) -> None:
        start = time.perf_counter()
        for batch in batches:
            self.step(batch)
        self.seconds.append(time.perf_counter() - start)


def profile_step(run: Run, batch, rows: int = 5) -> list[dict]:
    """The `rows` operators with the most self CPU time in one step."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run.step(batch)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "self_ms": e.self_cpu_time_total / 1e3, "share": e.self_cpu_time_total / total,
             "calls": e.count} for e in events[:rows]]


def bench_llm(steps: int = 4, repeats: int = 3, out_json="results/bench/bench_llm.json") -> dict:
    """The peak, every recipe's examples/s and FLOP/s, their ratios to `before`, and two profiles."""
    precision = mixed_precision("auto")
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    peak = peak_flops(precision)
    print(f"matmul peak: fp32 {peaks['fp32'] / 1e12:.2f} TFLOP/s, bf16 {peaks['bf16'] / 1e12:.2f} TFLOP/s; "
          f"the runs compute in {precision}", flush=True)
    batches = lesson10_batches(steps + 1)
    timed = batches[:steps]  # the last batch warms up
    examples, tokens = steps * len(batches[0]["input_ids"]), sum(int(b["attention_mask"].sum()) for b in timed)
    runs = {name: Run(recipe) for name, recipe in RECIPES.items()}
    for run in runs.values():
        run.step(batches[-1])  # warm-up: first-call costs paid outside the timing
    names = list(runs)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            runs[name].timed(timed)
    report = {"steps": steps, "repeats": repeats, "batch": "8 lesson-10 chats, answer-only loss, LoRA r=16 on "
              "every linear layer", "precision": precision, "peak_flops": peaks, "recipes": {},
              "hardware": hardware(), "versions": versions()}
    before = None
    for name, run in runs.items():
        per_s = examples / statistics.median(run.seconds)
        before = before or per_s
        flops = flops_per_token(run.model, tokens / examples) * tokens / statistics.median(run.seconds)
        report["recipes"][name] = asdict(run.recipe) | {
            "examples_per_s": per_s, "seconds": run.seconds, "ratio": per_s / before,
            "flops_per_s": flops, "share_of_peak": flops / peak}
        print(f"{name:20s} {per_s:5.2f} examples/s  x{per_s / before:.2f}  {flops / 1e12:.3f} TFLOP/s "
              f"= {flops / peak:.1%} of the {precision} peak", flush=True)
    report["profiles"] = {name: profile_step(runs[name], batches[0]) for name in (names[0], names[-1])}
    for name, rows in report["profiles"].items():
        print(f"\nwhere one step's time goes, {name}:")
        for row in rows:
            print(f"  {row['share']:6.1%}  {row['self_ms']:8.1f} ms  {row['calls']:5d} calls  {row['op']}")
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report
