"""Training a chat model on its own graded answers, one loop for three objectives:

    config = PolicyConfig(objective="grpo", loss_type="dr_grpo", lr=1e-3, steps=30)
    run = train_policy(model, tokenizer, train, grade, evaluate, config)   # the model ends at its best evaluation

objective "grpo": each step samples a group of answers per question, grades them, and steps on
GRPO's loss of the group-relative advantages (methods.grpo), with beta x KL to the starting model;
"rejection": the same samples, but one supervised step on the right ones only (online rejection
sampling); given a fixed `pool` of right answers drawn once from the starting model instead, the same
supervised steps on it (offline rejection sampling, "SFT on own correct answers"). So the arms differ
in one thing each: wrong answers used or not, samples fresh or drawn once.
Greedy validation (evaluate) before training and every eval_every steps; the trainable weights of the
best evaluation are put back at the end (engine.params, as the course's training loop does).
"""
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine.device import autocast, mixed_precision, model_device, seed_everything
from ..engine.params import put_back, trainable_copy
from ..engine.schedules import make_schedule
from .checkable import group_advantages, sampled
from .grpo import grpo_loss, mean_token_kl, pack, rejection_loss, token_logps
from .lora import merged

OBJECTIVES = ("grpo", "rejection")


@dataclass(frozen=True)
class PolicyConfig:
    objective: str = "grpo"  # "grpo" (learns from right and wrong answers) or "rejection" (SFT on the right ones)
    loss_type: str = "dr_grpo"  # how GRPO averages its token losses (methods.grpo.LOSS_TYPES)
    lr: float = 1e-3  # AdamW's peak rate, decayed linearly to 0 over the steps
    steps: int = 30  # optimizer steps
    prompts_per_step: int = 8  # questions per step
    group: int = 8  # answers sampled per question (GRPO's group)
    micro_batch: int = 2  # questions whose answers go through one forward and backward
    new_tokens: int = 16  # most tokens per answer; an answer still going is cut off
    temperature: float = 1.0  # sampling temperature of the training answers
    beta: float = 0.0  # weight of the KL term to the starting model (GRPO only; 0: none)
    eval_every: int = 5  # optimizer steps between validation evaluations
    max_grad_norm: float = 1.0  # gradients clipped to this global norm, as TRL's default
    seed: int = 0  # question order, sampling and LoRA's initial A (the caller seeds the model's creation)


def train_policy(model, tokenizer, train, grade, evaluate, config: PolicyConfig, pool=None) -> dict:
    """Trains the peft `model` on `train` ([(chat, answer)]) by config.objective; ends with the weights of the
    best evaluate(model) -> float. grade(texts, answers, ended) -> {"correct": (N,) rewards, ...}.
    pool: [(prompt ids, completion ids)] of right answers drawn once (offline rejection sampling).
    Returns {"val_curve", "best_step", "val_score", "log" (per-step diagnostics), "train_time_s", "steps"}."""
    if config.objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {config.objective!r}: use one of {', '.join(OBJECTIVES)}")
    seed_everything(config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    schedule = make_schedule(optimizer, "linear", config.steps)
    scaler = torch.amp.GradScaler(enabled=mixed_precision(device=model_device(model).type) == "fp16")
    order = random.Random(config.seed).sample(train, len(train))
    curve, log, start = [], [], time.perf_counter()
    best = _evaluated(model, evaluate, 0, curve, None)
    for step in tqdm(range(1, config.steps + 1), desc=f"{config.objective}, lr {config.lr:g}", leave=False):
        if pool is None:
            batch = [order[i % len(order)] for i in range((step - 1) * config.prompts_per_step, step * config.prompts_per_step)]
            rows = _sampled_step(model, tokenizer, batch, grade, config, config.seed * 10_000 + step)
        else:
            rows = _pool_step(pool, step, config)
        measure_kl = config.beta > 0 or step % config.eval_every == 0
        learns = config.objective == "grpo" or rows["rewards"].any()  # SFT on no right answer: nothing to step on
        done = _optimise(model, tokenizer, rows, config, optimizer, scaler, params, measure_kl) if learns else {}
        log.append({"step": step} | rows["diagnostics"] | done)
        if done:  # a step with no right answer to learn from (rejection) takes no optimizer step
            schedule.step()
        if step % config.eval_every == 0 or step == config.steps:
            best = _evaluated(model, evaluate, step, curve, best)
    put_back(model, best[2])
    return {"val_curve": curve, "best_step": best[1], "val_score": best[0], "log": log,
            "train_time_s": time.perf_counter() - start, "steps": config.steps}


def _evaluated(model, evaluate, step: int, curve: list, best):
    """Evaluates, appends to curve, and returns the best (score, step, weights) so far."""
    score = evaluate(model)
    curve.append({"step": step, "score": score})
    model.train()
    return (score, step, trainable_copy(model)) if best is None or score > best[0] else best


def _sampled_step(model, tokenizer, batch, grade, config: PolicyConfig, seed: int) -> dict:
    """A group of answers per question, sampled by the model as it is now, graded: the step's rows."""
    with merged(model):
        out = sampled(model, tokenizer, [c for c, _ in batch], n=config.group, temperature=config.temperature,
                      new_tokens=config.new_tokens, seed=seed)
    texts, ended = sum(out["texts"], []), sum(out["ended"], [])
    g = grade(texts, np.repeat([a for _, a in batch], config.group), ended)
    rewards = g["correct"]
    spread = rewards.reshape(-1, config.group)
    diagnostics = {"reward": float(rewards.mean()), "reward_std": float(rewards.std()),
                   "no_signal_groups": float((spread.max(1) == spread.min(1)).mean()),
                   "cut_off": float(1 - np.mean(ended)),
                   "length": float(np.mean([len(c) for g in out["completions"] for c in g]))}
    return {"prompts": out["prompts"], "completions": out["completions"], "rewards": rewards,
            "advantages": group_advantages(rewards, config.group), "diagnostics": diagnostics}


def _rows(pairs, diagnostics: dict) -> dict:
    """(prompt ids, completion ids) pairs as a step's rows, each kept (supervised)."""
    return {"prompts": [p for p, _ in pairs], "completions": [[c] for _, c in pairs], "rewards": np.ones(len(pairs)),
            "advantages": np.ones(len(pairs)), "diagnostics": diagnostics}


def _pool_step(pool, step: int, config: PolicyConfig) -> dict:
    """The step's share of the offline pool (its answers in a seeded order, len(pool) / steps a step)."""
    order = random.Random(config.seed).sample(pool, len(pool))
    size = max(1, round(len(pool) / config.steps))
    chosen = [order[i % len(order)] for i in range((step - 1) * size, step * size)]
    return _rows(chosen, {"length": float(np.mean([len(c) for _, c in chosen]))})


def _optimise(model, tokenizer, rows: dict, config: PolicyConfig, optimizer, scaler, params, measure_kl: bool) -> dict:
    """One optimizer step over the step's rows, a micro-batch of prompts (with their answers) at a time; the KL
    to the starting model measured on the first micro-batch when asked (every one when the loss needs it)."""
    per_prompt = len(rows["completions"][0])
    ids, mask, completion = pack(rows["prompts"], rows["completions"], tokenizer.pad_token_id)  # (N, T), (N, T), (N, C)
    device, keep = model_device(model), torch.tensor(rows["rewards"], dtype=torch.float32)
    advantages = torch.tensor(rows["advantages"], dtype=torch.float32)  # (N,)
    tokens = float((completion * (keep.unsqueeze(1) if config.objective == "rejection" else 1)).sum())
    width, loss_sum, kl = config.micro_batch * config.group, 0.0, None
    model.train()
    for i in range(0, ids.size(0), width):
        part = slice(i, i + width)
        batch = [t[part].to(device) for t in (ids, mask, completion)]
        loss, step_kl = _loss(model, *batch, advantages[part].to(device), keep[part].to(device), config, per_prompt,
                              ids.size(0), tokens, measure_kl=measure_kl and i == 0)
        scaler.scale(loss).backward()
        loss_sum, kl = loss_sum + loss.item(), kl if kl is not None else step_kl
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return {"loss": loss_sum, "kl": kl, "grad_norm": float(grad_norm), "trained_on": ids.size(0)}


def _loss(model, ids, mask, completion, advantages, keep, config: PolicyConfig, group: int, rows: int,
          tokens: float, measure_kl: bool) -> tuple:
    """One micro-batch's share of the step's loss, and its KL to the starting model when measure_kl (None
    otherwise; the reference pass runs on every micro-batch when the loss needs it)."""
    with autocast(model):
        logps = token_logps(model, ids, mask, completion.size(1), group)  # (n, C)
        ref = None
        if config.beta or measure_kl:
            with torch.no_grad(), model.disable_adapter():
                ref = token_logps(model, ids, mask, completion.size(1), group)
        if config.objective == "rejection":
            loss = rejection_loss(logps, keep, completion, tokens)
        else:
            loss = grpo_loss(logps, advantages, completion, ref, config.beta, config.loss_type, rows=rows,
                             tokens=tokens, max_tokens=config.new_tokens)
    kl = mean_token_kl(logps.detach(), ref, completion) if measure_kl else None
    return loss, kl
