"""Lesson 12's experiments: fine-tune SmolLM2 with a reward a program can check (GRPO with LoRA, on the
course's loop with TRL's loss), against supervised fine-tuning (TRL's SFTTrainer) on the model's own
correct answers.

    run_pilot()                      # candidate tasks, the model as it is, on validation: which to use
    run_method("grpo", seed=0)       # LoRA + GRPO; learning rate and the weights kept chosen on validation
    run_method("sft-own", seed=0)    # LoRA + SFT on its own correct samples, as many draws as GRPO's
    reward_table(RESULTS / "cpu")    # mean ± std over seeds and the paired difference from sft-own
A result file is read instead of rerun while it stands for the run asked now (protocol.stored).
"""
import json
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import get_profile, RESULTS, RUNS
from ..engine.device import autocast, mixed_precision, model_device, seed_everything
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params, put_back, trainable_copy
from ..engine.records import lesson_results, mean_std, result_name, write_json, write_result
from ..engine.schedules import make_schedule
from ..methods.checkable import chat, complete, generate, graded, group_advantages, INSTRUCTION, items, TASKS
from ..methods.grpo import grpo_loss, mean_token_kl, pack, token_logps
from ..methods.dpo import mean_kl
from ..methods.lm import block_losses, pack_blocks
from ..methods.lora import add_lora, ALL_LINEAR, merged
from ..experiments.protocol import ACCURACY, describe_difference, paired_difference, cost_columns, search, search_fields, seed_paired, stored, VERSION

MODEL = "smollm2-135m"
DATA = "checkable"  # result files' data name: the task's generated questions (the sizes name the task)


@dataclass(frozen=True)
class PilotSizes:
    items: int  # validation items per candidate task
    samples: int  # completions sampled per item at temperature 1 (what GRPO's groups are made of)


PILOT = {"smoke": PilotSizes(items=4, samples=2), "cpu": PilotSizes(items=64, samples=8),
         "gpu": PilotSizes(items=256, samples=16)}


def run_pilot(profile=None, out_dir=None) -> dict:
    """Each candidate task, the model as it is, on validation items: greedy correctness and format, and
    over `samples` sampled completions per item the share correct and the share of items whose samples
    disagree (some right, some wrong: the only groups from which GRPO learns anything). One JSON file."""
    profile = profile or get_profile()
    sizes, new_tokens = PILOT[profile.name], SIZES[profile.name].new_tokens  # the lesson's answer length
    path = (out_dir or RESULTS / profile.name / "pilot") / "verifiable-rewards-pilot.json"
    asked = {"sizes": asdict(sizes), "new_tokens": new_tokens, "instruction": INSTRUCTION,
             "candidates": {t: TASKS[t][0] for t in TASKS}, "protocol": VERSION}
    if record := stored(path, asked):
        return record
    model, tokenizer, tasks = load_model(MODEL), load_tokenizer(MODEL), {}
    for task in tqdm(TASKS, desc="pilot: tasks"):
        qa = items(task, "validation", sizes.items)
        questions, answers = [q for q, _ in qa], [a for _, a in qa]
        start = time.perf_counter()
        greedy = graded([c[0] for c in complete(model, tokenizer, questions, new_tokens=new_tokens)], answers)
        sampled = complete(model, tokenizer, questions, n=sizes.samples, temperature=1.0, new_tokens=new_tokens)
        right = graded([c for group in sampled for c in group], np.repeat(answers, sizes.samples))["correct"]
        right = right.reshape(len(questions), sizes.samples)  # (items, samples)
        tasks[task] = {"asks": TASKS[task][0], "greedy_correct": greedy["correct"].mean(),
                       "greedy_format": greedy["format"].mean(), "sampled_correct": right.mean(),
                       "mixed_groups": float(((right.max(1) > 0) & (right.min(1) < 1)).mean()),
                       "seconds": time.perf_counter() - start,
                       "examples": [{"question": q, "greedy": c[0], "samples": s[:3]}
                                    for q, c, s in zip(questions[:4], complete(model, tokenizer, questions[:4],
                                                                              new_tokens=new_tokens), sampled)]}
    record = asked | {"tasks": json.loads(json.dumps(tasks, default=float))}
    write_json(path, record)
    return record


USABLE = (0.1, 0.9)  # a task is usable when the model's greedy accuracy lies strictly between these


def choose_task(pilot: dict) -> str:
    """The pilot's choice: among tasks the model neither fails nor solves (greedy accuracy inside USABLE),
    the one with the largest share of mixed groups, the only ones GRPO learns from."""
    usable = {t: r for t, r in pilot["tasks"].items() if USABLE[0] < r["greedy_correct"] < USABLE[1]}
    if not usable:
        raise ValueError("no candidate task is usable: the model fails or solves every one; add a task to "
                         "methods.checkable.TASKS")
    return max(usable, key=lambda t: usable[t]["mixed_groups"])


METHODS = {  # method -> what it does (for tables)
    "zero-shot": "SmolLM2-135M-Instruct as it is",
    "few-shot": "the same, with 3 solved training questions before the question",
    "sft-own": "LoRA, supervised on its own correct samples (rejection sampling)",
    "grpo": "LoRA, GRPO with the correctness reward, no KL term",
    "grpo-kl": "LoRA, GRPO with the correctness reward and a KL term",
}
TRAINED = ("sft-own", "grpo", "grpo-kl")
RATE_FROM = {"grpo-kl": "grpo"}  # the KL variant trains at GRPO's chosen rate: the two differ only in the KL term
SHOTS = 3  # solved examples in the few-shot prompt


@dataclass(frozen=True)
class RewardSizes:
    task: str  # the task (TASKS), chosen by run_pilot on validation
    steps: int  # GRPO optimizer steps, each on freshly sampled groups
    prompts_per_step: int  # questions per GRPO step
    group: int  # completions sampled per question: GRPO's group; SFT samples as many per question
    new_tokens: int  # most tokens per completion
    val_items: int  # validation questions: greedy accuracy chooses the rate and the weights kept
    test_items: int  # test questions, each method scored on them once
    eval_every: int  # optimizer steps between validation evaluations (and one before training)
    grpo_lrs: tuple  # GRPO's learning-rate grid, tried on the first seed (grpo-kl reuses the rate chosen)
    sft_lrs: tuple  # SFT's grid, tried on the first seed
    sft_epochs: int  # passes over the correct samples
    sft_batch: int  # samples per SFT step
    beta: float  # weight of the KL term in grpo-kl
    lora_r: int  # LoRA rank, on every linear layer
    seeds: tuple  # seeds of every method: adapters' start, samples, order
    news_blocks: int  # general-news blocks (the profile's lm_block_size tokens) for the drift perplexity


SIZES = {
    "smoke": RewardSizes(task="larger", steps=2, prompts_per_step=2, group=4, new_tokens=8, val_items=4, test_items=4,
                         eval_every=1, grpo_lrs=(1e-3,), sft_lrs=(1e-3,), sft_epochs=1, sft_batch=4, beta=0.04,
                         lora_r=8, seeds=(0,), news_blocks=2),
    "cpu": RewardSizes(task="larger", steps=20, prompts_per_step=8, group=8, new_tokens=16, val_items=48,
                       test_items=200, eval_every=10, grpo_lrs=(1e-4, 3e-4, 1e-3), sft_lrs=(1e-4, 3e-4, 1e-3), sft_epochs=2,
                       sft_batch=16, beta=0.04, lora_r=16, seeds=(0, 1, 2), news_blocks=8),
    "gpu": RewardSizes(task="larger", steps=200, prompts_per_step=16, group=16, new_tokens=32, val_items=400,
                       test_items=1000, eval_every=10, grpo_lrs=(1e-4, 3e-4, 1e-3), sft_lrs=(1e-4, 3e-4, 1e-3),
                       sft_epochs=3, sft_batch=32, beta=0.04, lora_r=16, seeds=(0, 1, 2), news_blocks=32),
}


@reads.size_table
def reward_sizes(profile: str) -> RewardSizes:
    return SIZES[profile]


class KeepBest:
    """Greedy accuracy on the validation questions before training and every `every` steps (evaluate);
    the trainable weights of the best evaluation are copied and put back by restore, when training ends
    (the course's rule: every method ends with its best weights)."""

    def __init__(self, tokenizer, questions, answers, every: int, new_tokens: int):
        self.tokenizer, self.questions, self.answers = tokenizer, questions, answers
        self.every, self.new_tokens = every, new_tokens
        self.curve, self.best, self.best_step = [], None, 0  # curve: {"step", "accuracy", "format"} per evaluation
        self._weights = None

    def evaluate(self, model, step: int) -> None:
        with merged(model):
            texts = [c[0] for c in complete(model, self.tokenizer, self.questions, new_tokens=self.new_tokens)]
        g = graded(texts, self.answers)
        self.curve.append({"step": step, "accuracy": float(g["correct"].mean()), "format": float(g["format"].mean())})
        if self.best is None or self.curve[-1]["accuracy"] > self.best:
            self.best, self.best_step = self.curve[-1]["accuracy"], step
            self._weights = trainable_copy(model)
        model.train()

    def restore(self, model) -> None:
        put_back(model, self._weights)


def keep_best(tokenizer, sizes: RewardSizes, kind=KeepBest) -> KeepBest:
    """A KeepBest (or the subclass `kind`) on the task's validation questions."""
    qa = items(sizes.task, "validation", sizes.val_items)
    return kind(tokenizer, [q for q, _ in qa], [a for _, a in qa], sizes.eval_every, sizes.new_tokens)


def keep_best_callback(tokenizer, sizes: RewardSizes):
    """keep_best as a transformers TrainerCallback: evaluates before training and every `eval_every` steps,
    restores the best weights when training ends."""
    from transformers import TrainerCallback

    class Callback(KeepBest, TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.evaluate(model, 0)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % self.every == 0 or state.global_step == state.max_steps:
                self.evaluate(model, state.global_step)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self.restore(model)

    return keep_best(tokenizer, sizes, Callback)


def _sft_args(lr: float, seed: int, run_dir, **fields):
    """TRL's SFTConfig for SFT on own answers: no checkpoints, no reports, bf16 where the hardware computes it
    natively, a log line per step, and no gradient checkpointing (TRL's default turns it on; a 135M model
    does not need the memory it saves, and it slows training)."""
    from trl import SFTConfig
    precision = mixed_precision()
    return SFTConfig(output_dir=str(run_dir), learning_rate=lr, seed=seed, logging_steps=1, save_strategy="no",
                        report_to="none", bf16=precision == "bf16", fp16=precision == "fp16",
                        use_cpu=not torch.cuda.is_available(), disable_tqdm=True, gradient_checkpointing=False,
                        **fields)


def train_grpo(lr: float, seed: int, beta: float, sizes: RewardSizes, profile) -> tuple:
    """LoRA (no dropout: the completions are scored by the policy that sampled them) + GRPO on the course's
    loop (methods.grpo: TRL's loss, checked against TRL's in a test), on the task's training questions: each step samples `group` completions for each of `prompts_per_step`
    questions at temperature 1, rewards them with the correctness grade, and takes one step on the GRPO
    loss of their group-relative advantages, with beta x KL to the starting model (beta 0: none).
    AdamW with a linear decay and gradients clipped at norm 1, as TRL's defaults. Ends with the weights of
    the best validation evaluation. Returns (the peft model, {"val_curve", "best_step", "log", "train_time_s"})."""
    tokenizer = load_tokenizer(MODEL)
    seed_everything(seed)
    model = add_lora(load_model(MODEL), r=sizes.lora_r, target_modules=ALL_LINEAR, dropout=0.0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    schedule = make_schedule(optimizer, "linear", sizes.steps)
    questions = items(sizes.task, "train")
    random.Random(seed).shuffle(questions)
    keeper, log, start = keep_best(tokenizer, sizes), [], time.perf_counter()
    keeper.evaluate(model, 0)
    for step in tqdm(range(1, sizes.steps + 1), desc=f"GRPO, lr {lr:g}", leave=False):
        qa = [questions[i % len(questions)] for i in range((step - 1) * sizes.prompts_per_step, step * sizes.prompts_per_step)]
        log.append({"step": step} | grpo_step(model, tokenizer, optimizer, qa, sizes, beta, seed * 10_000 + step))
        schedule.step()
        if step % sizes.eval_every == 0 or step == sizes.steps:
            keeper.evaluate(model, step)
    keeper.restore(model)
    return model, {"val_curve": keeper.curve, "best_step": keeper.best_step, "val_accuracy": keeper.best, "log": log,
                   "train_time_s": time.perf_counter() - start, "steps": sizes.steps}


def grpo_step(model, tokenizer, optimizer, qa, sizes: RewardSizes, beta: float, seed: int) -> dict:
    """One GRPO step: sample a group per question (seeded), grade, advantages, one optimizer step on
    grpo_loss. Returns what the step logs: mean reward, loss, mean completion length (and KL when beta > 0)."""
    with merged(model):
        prompt_ids, groups = generate(model, tokenizer, [q for q, _ in qa], n=sizes.group, temperature=1.0,
                                      new_tokens=sizes.new_tokens, seed=seed)
    texts = [t for group in groups for t in tokenizer.batch_decode(group, skip_special_tokens=True)]
    rewards = graded(texts, np.repeat([a for _, a in qa], sizes.group))["correct"]
    device = model_device(model)
    advantages = torch.tensor(group_advantages(rewards, sizes.group), dtype=torch.float32, device=device)  # (N,)
    ids, mask, completion = (t.to(device) for t in pack(prompt_ids, groups, tokenizer.pad_token_id))  # (N, T), (N, T), (N, C)
    model.train()
    with autocast(model):
        logps = token_logps(model, ids, mask, completion.size(1))  # (N, C)
        ref = None
        if beta:
            with torch.no_grad(), model.disable_adapter():
                ref = token_logps(model, ids, mask, completion.size(1))
        loss = grpo_loss(logps, advantages, completion, ref, beta)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], 1.0)
    optimizer.step()
    optimizer.zero_grad()
    logged = {"reward": float(rewards.mean()), "loss": loss.item(), "completions/mean_length": completion.sum(1).float().mean().item()}
    return logged | ({"kl": mean_token_kl(logps.detach(), ref, completion)} if beta else {})


def _fit(trainer, callback) -> dict:
    from transformers import PrinterCallback
    trainer.remove_callback(PrinterCallback)  # the logs go into the result file, not onto the page
    start = time.perf_counter()
    with warnings.catch_warnings():  # transformers' renames, raised inside TRL's own calls: nothing a learner can change
        warnings.simplefilter("ignore", FutureWarning)
        trainer.train()
    log = [{"step": row["step"], "loss": row["loss"]} for row in trainer.state.log_history
           if "step" in row and "loss" in row]  # the training loss of each logged step
    return {"val_curve": callback.curve, "best_step": callback.best_step, "val_accuracy": callback.best,
            "log": log, "train_time_s": time.perf_counter() - start, "steps": trainer.state.global_step}


def own_correct_samples(sizes: RewardSizes, seed: int) -> list[dict]:
    """Rejection sampling from the model as it is: `group` completions at temperature 1 for each of
    steps x prompts_per_step training questions (GRPO's draws, in number), the correct ones kept as
    prompt/completion rows for TRL's SFTTrainer."""
    model, tokenizer = load_model(MODEL), load_tokenizer(MODEL)
    qa = items(sizes.task, "train")
    random.Random(seed).shuffle(qa)
    qa = [qa[i % len(qa)] for i in range(sizes.steps * sizes.prompts_per_step)]
    texts = complete(model, tokenizer, [q for q, _ in qa], n=sizes.group, temperature=1.0,
                     new_tokens=sizes.new_tokens, seed=seed)
    return [{"prompt": chat(q), "completion": [{"role": "assistant", "content": t}]}
            for (q, a), group in zip(qa, texts) for t, right in zip(group, graded(group, [a] * len(group))["correct"])
            if right]


def train_sft_own(lr: float, seed: int, sizes: RewardSizes, profile) -> tuple:
    """LoRA + SFT (TRL's SFTTrainer, loss on the completion only) on own_correct_samples; ends with the
    weights of the best validation evaluation. Returns (the peft model, as train_grpo's record plus
    {"samples_kept"})."""
    from datasets import Dataset
    from trl import SFTTrainer
    rows = own_correct_samples(sizes, seed)
    if not rows:
        raise ValueError("no sampled completion was correct: the task is too hard for the model; choose another "
                         "with run_pilot")
    tokenizer = load_tokenizer(MODEL)
    seed_everything(seed)
    model = add_lora(load_model(MODEL), r=sizes.lora_r, target_modules=ALL_LINEAR)
    args = _sft_args(lr, seed, RUNS / "12_sft" / profile.name, num_train_epochs=sizes.sft_epochs,
                         per_device_train_batch_size=sizes.sft_batch)
    callback = keep_best_callback(tokenizer, sizes)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         callbacks=[callback])
    return model, _fit(trainer, callback) | {"samples_kept": len(rows),
                                             "samples_drawn": sizes.steps * sizes.prompts_per_step * sizes.group}


def news_perplexity(model, tokenizer, sizes: RewardSizes, profile) -> float:
    """Perplexity on held-out general news (lesson 01's drift measure), blocks of lm_block_size tokens."""
    news = pack_blocks(load_dataset("news_articles")["validation"]["text"], tokenizer, profile.lm_block_size,
                       sizes.news_blocks)
    return math.exp(block_losses(model, news).mean())


def shots(task: str, seed: int) -> list[tuple[str, int]]:
    """The few-shot prompt's solved examples: SHOTS training questions of `task`, drawn with the seed."""
    return random.Random(seed).sample(items(task, "train"), SHOTS)


def measure(model, tokenizer, sizes: RewardSizes, profile, seed: int, examples=()) -> dict:
    """The test questions answered greedily (what a user of the model gets), each graded for correctness and
    format; KL to the starting model on one completion per question sampled at temperature 1 (seeded);
    news perplexity."""
    qa = items(sizes.task, "test", sizes.test_items)
    questions, answers = [q for q, _ in qa], [a for _, a in qa]
    with merged(model):
        texts = [c[0] for c in complete(model, tokenizer, questions, new_tokens=sizes.new_tokens, examples=examples)]
        prompts, sampled = generate(model, tokenizer, questions, temperature=1.0, new_tokens=sizes.new_tokens,
                                    seed=seed, examples=examples)
    g = graded(texts, answers)
    metrics = {"accuracy": float(g["correct"].mean()), "format": float(g["format"].mean()),
               "kl": mean_kl(model, tokenizer, prompts, sampled),
               "news_ppl": news_perplexity(model, tokenizer, sizes, profile)}
    return {"metrics": metrics, "test_correct": g["correct"].tolist(), "test_format": g["format"].tolist(),
            "samples": [{"question": q, "answer": a, "completion": t} for q, a, t in list(zip(questions, answers, texts))[:8]]}


def result_file(method: str, seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or RESULTS / profile.name) / result_name(method, MODEL, DATA, profile.name, seed)


def asked(profile) -> dict:
    """What a stored result must have been made from (protocol.stored): the lesson's sizes and the protocol."""
    return {"sizes": asdict(reward_sizes(profile.name)), "protocol": VERSION}


def _train(method: str, lr: float, seed: int, sizes: RewardSizes, profile) -> tuple:
    if method == "sft-own":
        return train_sft_own(lr, seed, sizes, profile)
    return train_grpo(lr, seed, sizes.beta if method == "grpo-kl" else 0.0, sizes, profile)


def choose_rate(method: str, profile, out_dir=None):
    """The method's rate by its best validation accuracy at the first seed (protocol.search over its grid);
    Choice.winner holds the winner's (record, model) when it was trained in this call."""
    sizes = reward_sizes(profile.name)
    grid = sizes.sft_lrs if method == "sft-own" else sizes.grpo_lrs
    name, provenance = result_file(method, sizes.seeds[0], profile).stem, asked(profile)

    def validate(lr):
        model, record = _train(method, lr, sizes.seeds[0], sizes, profile)
        return record, model

    return search(name, grid, validate, Path(out_dir or RESULTS / profile.name), lambda lr: provenance | {"lr": lr}, score=ACCURACY,
                  describe=lambda lr, r: {"lr": lr, "val_accuracy": r["val_accuracy"], "best_step": r["best_step"]})


def _trained(method: str, seed: int, profile, out_dir) -> tuple:
    """The method trained at the rate chosen on validation (for grpo-kl, GRPO's: RATE_FROM):
    (model, what the result file records)."""
    choice, sizes = choose_rate(RATE_FROM.get(method, method), profile, out_dir), reward_sizes(profile.name)
    if choice.winner and seed == sizes.seeds[0] and method not in RATE_FROM:
        record, model = choice.winner
    else:
        model, record = _train(method, choice.value, seed, sizes, profile)
    searched = {} if method in RATE_FROM else search_fields(choice)  # grpo-kl takes GRPO's rate: no search of its own
    return model, record | {"lr": choice.value, "candidates": choice.candidates} | searched


def run_method(method: str, seed: int = 0, out_dir=None, skip_existing: bool = True, profile=None) -> dict:
    """One method at one seed, measured on the test questions; one result file, read back instead of rerun
    while it stands for the run asked now (protocol.stored)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    profile = profile or get_profile()
    sizes, path, provenance = reward_sizes(profile.name), result_file(method, seed, profile, out_dir), asked(profile)
    if skip_existing and (record := stored(path, provenance)):
        return record
    tokenizer, start = load_tokenizer(MODEL), time.perf_counter()
    with PeakTracker() as mem:
        if method in TRAINED:
            model, record = _trained(method, seed, profile, out_dir)
        else:
            model, record = load_model(MODEL), {}
        examples = shots(sizes.task, seed) if method == "few-shot" else ()
        measured = measure(model, tokenizer, sizes, profile, seed, examples)
    trainable, total = count_params(model)
    write_result(path.parent, method=method, model=MODEL, data=DATA, profile=profile.name, seed=seed,
                 metrics=measured.pop("metrics"), trainable_params=trainable, total_params=total,
                 wall_time_s=time.perf_counter() - start, peak_memory_mb=mem.mb, examples=list(map(list, examples)),
                 **record, **measured, **provenance)
    return json.loads(path.read_text())


def run_lesson(profile=None, skip_existing: bool = True) -> None:
    """Every method x seed of the lesson (what `make results` runs); stored results are read."""
    profile = profile or get_profile()
    runs = [(m, s) for m in METHODS for s in reward_sizes(profile.name).seeds]
    for method, seed in tqdm(runs, desc="lesson 12: runs"):
        run_method(method, seed, skip_existing=skip_existing, profile=profile)


def _runs(folder):
    """Lesson 12's result rows, with test_strict: per question, right and in format (the number alone, correct)."""
    frame = lesson_results(folder, "lesson 12", data=DATA, model=MODEL)
    frame["test_strict"] = [list(np.multiply(c, f)) for c, f in zip(frame.test_correct, frame.test_format)]
    return frame


def reward_table(folder):
    """One row per method (METHODS order): test accuracy, format share and both at once (%), KL to the starting
    model, news perplexity, as mean ± std over seeds; the rate chosen, the step kept, the cost; and the paired difference
    in accuracy from SFT on own correct samples on the same test questions (seed-averaged, 95% interval)."""
    frame, rows = _runs(folder), []
    reference = frame[frame.method == "sft-own"]
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        trained = "lr" in runs and runs.lr.notna().any()
        rows.append({"method": method, "what it does": METHODS[method],
                     "accuracy %": mean_std(100 * runs.metric_accuracy, 1),
                     "format %": mean_std(100 * runs.metric_format, 1),
                     "right and in format %": mean_std([100 * np.mean(s) for s in runs.test_strict], 1),
                     "KL to start": mean_std(runs.metric_kl, 2),
                     "news perplexity": mean_std(runs.metric_news_ppl, 1), "seeds": len(runs),
                     "learning rate": f"{runs.lr.iloc[0]:g}" if trained else "—",
                     "step kept": f"{runs.best_step.mean():.0f}" if trained else "—",
                     **cost_columns(runs),
                     "Δ accuracy vs sft-own": "—" if method == "sft-own" or reference.empty
                     else paired_difference(runs, reference)})
    return pd.DataFrame(rows)


def compare(folder, a: str, b: str, column: str = "test_correct") -> tuple:
    """Paired difference a - b in points on the same test questions (`column`: test_correct, test_format or
    test_strict), each averaged over the seeds both ran: (mean, low, high, seeds)."""
    return seed_paired(_runs(folder), a, b, column, scale=100)


MEASURES = {"test_correct": "accuracy", "test_format": "format share", "test_strict": "right and in format"}


def describe_comparison(folder, a: str, b: str, column: str = "test_correct", unit: str = "points") -> str:
    """One line for a - b on the same test questions (protocol.describe_difference), or, where neither side
    varies (every question of every seed scored alike: no answer in format, say), the two shares themselves:
    "+0.0 (+0.0 to +0.0)" would only say that nothing moved."""
    frame = _runs(folder)
    scores = {m: np.concatenate([np.asarray(v, dtype=float) for v in frame.loc[frame.method == m, column]])
              for m in (a, b)}
    if all(len(v) and np.all(v == v[0]) for v in scores.values()):
        x, y = (100 * scores[m][0] for m in (a, b))
        shares = f"{x:.0f}% for both" if x == y else f"{a} {x:.0f}%, {b} {y:.0f}%"
        verdict = "no difference to test" if x == y else f"{a if x > y else b} is ahead"
        return f"{a} vs {b}: {MEASURES.get(column, column)} {shares}, on every test question of every seed: {verdict}"
    return describe_difference(a, b, compare(folder, a, b, column), unit=unit)


def plot_training(folder, seed: int = 0, title: str | None = None):
    """Validation accuracy (solid) and format share (dotted) at every evaluation of each trained method, a star
    at the weights kept; beside it, GRPO's mean training reward per step. One seed (default 0)."""
    import matplotlib.pyplot as plt
    frame = _runs(folder)
    fig, (acc, reward) = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, method in enumerate(m for m in TRAINED if m in set(frame.method)):
        run = frame[(frame.method == method) & (frame.seed == seed)].iloc[0]
        curve = pd.DataFrame(run.val_curve)
        acc.plot(curve.step, 100 * curve.accuracy, "o-", ms=3, color=f"C{i}", label=f"{method}: accuracy")
        acc.plot(curve.step, 100 * curve.format, ":", color=f"C{i}", label=f"{method}: format")
        best = curve[curve.step == run.best_step].iloc[0]
        acc.plot(best.step, 100 * best.accuracy, "*", ms=12, color=f"C{i}")
        log = pd.DataFrame(run.log)
        if method != "sft-own" and "reward" in log:
            reward.plot(log.step, log.reward, color=f"C{i}", label=method)
    acc.set(xlabel="optimizer step", ylabel="validation %", title=title or f"Validation, seed {seed} (star: kept)")
    reward.set(xlabel="optimizer step", ylabel="mean reward of the step's samples", title="GRPO's training reward")
    acc.legend(fontsize=7)
    reward.legend(fontsize=8)
    fig.tight_layout()
    return fig


def samples(folder, methods, seed: int = 0):
    """The first test questions and each method's greedy answer (seed `seed`)."""
    frame, table = _runs(folder), {}
    for method in methods:
        rows = frame[(frame.method == method) & (frame.seed == seed)].samples.iloc[0]
        table.setdefault("question", [r["question"] for r in rows])
        table.setdefault("answer", [r["answer"] for r in rows])
        table[method] = [r["completion"] for r in rows]
    return pd.DataFrame(table)
