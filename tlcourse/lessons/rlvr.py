"""Lesson 12's experiments, rebuilt for issue 35: SmolLM2 trained with a reward a program checks, under an
answer contract (a last line 'Answer: N'), against the arms that say why it works.

    run_pilot()                      # candidate tasks under the contract, the model as it is, on validation
    run_method("grpo", seed=0)       # LoRA + GRPO; loss type, rate and the weights kept chosen on validation
    run_lesson()                     # every method x seed, resuming from the result files
Every arm answers the same few-shot prompt (SHOTS solved questions, drawn with the seed), the only way
the model as it is follows the contract at all; zero-shot shows the question alone. A result file is
read instead of rerun while it stands for the run asked now (protocol.stored).
"""
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..engine import reads
from ..engine.config import get_profile, RESULTS, RUNS
from ..engine.device import seed_everything
from ..engine.loaders import load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.params import count_params
from ..engine.records import lesson_results, mean_std, result_name, write_json, write_result
from ..experiments.protocol import (cost_columns, describe_difference, Paired, paired_difference, search,
                                    search_fields, seed_paired, stored, VERSION, widening_search)
from ..methods.checkable import (chance, CONTRACT, contract_answer, contract_chat, contract_graded, items,
                                 majority_correct, sampled, TASKS)
from ..methods.dpo import mean_kl
from ..methods.lm import news_loss
from ..methods.lora import add_lora, ALL_LINEAR, merged
from ..methods.rl import PolicyConfig, train_policy

MODEL = "smollm2-135m"
DATA = "contract"  # result files' data name: the task's questions under the answer contract (the sizes name the task)
SHOTS = 3  # solved training questions before each question (the prompt every arm but zero-shot answers)


@dataclass(frozen=True)
class PilotSizes:
    items: int  # validation items per candidate task
    samples: int  # answers sampled per item at temperature 1 (what GRPO's groups are made of)
    new_tokens: int  # most tokens per answer


PILOT = {"smoke": PilotSizes(items=2, samples=2, new_tokens=8), "cpu": PilotSizes(items=32, samples=8, new_tokens=20),
         "gpu": PilotSizes(items=256, samples=16, new_tokens=32)}
MAX_CHANCE = 0.1  # a task is a candidate only when guessing gets at most this share right
USABLE = (0.02, 0.9)  # ... and the model's greedy accuracy under the contract lies strictly between these


def shots(task: str, seed: int) -> list[tuple[str, int]]:
    """The few-shot prompt's solved examples: SHOTS training questions of `task`, drawn with the seed."""
    return random.Random(seed).sample(items(task, "train"), SHOTS)


def chats(task: str, qa, seed: int, few_shot: bool = True) -> list[dict]:
    """Each question's chat under the contract, after the seed's solved examples (few_shot) or alone."""
    examples = shots(task, seed) if few_shot else ()
    return [contract_chat(q, examples) for q, _ in qa]


def answered(model, tokenizer, task: str, qa, seed: int, new_tokens: int, few_shot: bool = True, n: int = 1,
             temperature: float = 0.0) -> dict:
    """The model's answers to qa (greedy, or n sampled), graded strictly and loosely: sampled()'s fields and
    contract_graded()'s, flat over questions x answers."""
    with merged(model):
        out = sampled(model, tokenizer, chats(task, qa, seed, few_shot), n=n, temperature=temperature,
                      new_tokens=new_tokens, seed=seed)
    texts, ended = sum(out["texts"], []), sum(out["ended"], [])
    return out | {"flat_texts": texts, "flat_ended": ended} | contract_graded(texts, np.repeat([a for _, a in qa], n), ended)


def run_pilot(profile=None, out_dir=None) -> dict:
    """Each candidate task (those whose chance level is at most MAX_CHANCE) under the contract, the model as it
    is (few-shot, seed 0), on validation items: greedy accuracy (strict and loose) and cut-off share, and over
    `samples` sampled answers per item the share right and the share of items whose answers disagree (some
    right, some wrong: the only groups GRPO learns from). One JSON file; the other tasks with their chance."""
    profile = profile or get_profile()
    sizes = PILOT[profile.name]
    path = Path(out_dir or results_folder(profile) / "pilot") / "contract-pilot.json"
    chances = {t: chance(t, "validation") for t in TASKS}
    asked = {"sizes": asdict(sizes), "contract": CONTRACT, "shots": SHOTS, "max_chance": MAX_CHANCE,
             "candidates": {t: TASKS[t][0] for t in TASKS if chances[t] <= MAX_CHANCE}, "protocol": VERSION}
    if record := stored(path, asked):
        return record
    model, tokenizer = load_model(MODEL), load_tokenizer(MODEL)
    tasks = {t: {"asks": TASKS[t][0], "chance": chances[t], "skipped": "guessable"} for t in TASKS if t not in asked["candidates"]}
    for task in tqdm(asked["candidates"], desc="pilot: tasks"):
        qa, start = items(task, "validation", sizes.items), time.perf_counter()
        greedy = answered(model, tokenizer, task, qa, 0, sizes.new_tokens)
        drawn = answered(model, tokenizer, task, qa, 0, sizes.new_tokens, n=sizes.samples, temperature=1.0)
        right = drawn["correct"].reshape(len(qa), sizes.samples)  # (items, samples)
        tasks[task] = {"asks": TASKS[task][0], "chance": chances[task],
                       "greedy_correct": float(greedy["correct"].mean()), "greedy_loose": float(greedy["loose"].mean()),
                       "greedy_cut_off": float(greedy["cut_off"].mean()), "sampled_correct": float(right.mean()),
                       "sampled_cut_off": float(drawn["cut_off"].mean()),
                       "mixed_groups": float(((right.max(1) > 0) & (right.min(1) < 1)).mean()),
                       "seconds": time.perf_counter() - start,
                       "examples": [{"question": q, "greedy": g, "samples": s[:3]}
                                    for (q, _), g, s in zip(qa[:4], greedy["flat_texts"], drawn["texts"])]}
    write_json(path, asked | {"tasks": tasks})
    return asked | {"tasks": tasks}


def choose_task(pilot: dict) -> str:
    """The pilot's choice: among tasks whose chance level is at most MAX_CHANCE and that the model neither
    fails nor solves (greedy accuracy inside USABLE), the one with the largest share of mixed groups."""
    usable = {t: r for t, r in pilot["tasks"].items()
              if r["chance"] <= MAX_CHANCE and USABLE[0] < r.get("greedy_correct", 0) < USABLE[1]}
    if not usable:
        raise ValueError("no candidate task is usable: each is guessable, or the model fails or solves it; add a "
                         "task to methods.checkable.TASKS")
    return max(usable, key=lambda t: usable[t]["mixed_groups"])


METHODS = {  # method -> what it does (for tables)
    "zero-shot": "SmolLM2-135M-Instruct, the question alone",
    "few-shot": "the same, after 3 solved questions (every arm below starts here)",
    "sft-own": "LoRA, SFT on its own right answers, drawn once (offline rejection sampling)",
    "online-rs": "LoRA, SFT on the right answers of fresh samples each step (online rejection sampling)",
    "grpo": "LoRA, GRPO: right answers made likelier, wrong ones less, no KL term",
    "grpo-kl": "LoRA, GRPO with a KL term to the starting model",
}
TRAINED = ("sft-own", "online-rs", "grpo", "grpo-kl")
SETTING_FROM = {"grpo-kl": "grpo"}  # the KL variant trains at GRPO's chosen rate and loss: they differ in the KL term


@dataclass(frozen=True)
class RewardSizes:
    task: str  # the task (TASKS), chosen by run_pilot on validation
    steps: int  # optimizer steps of every trained arm
    prompts_per_step: int  # questions per step
    group: int  # answers sampled per question: GRPO's group, online rejection sampling's, pass@k's and maj@k's k
    micro_batch: int  # questions whose answers go through one forward and backward
    new_tokens: int  # most tokens per answer; an answer still going is cut off (wrong under the contract)
    val_items: int  # validation questions: greedy accuracy chooses the rate and the weights kept
    test_items: int  # test questions, each method scored on them once
    eval_every: int  # optimizer steps between validation evaluations (and one before training)
    lrs: tuple  # the rate grid every trained arm starts its search from (widened past an edge), at the first seed
    loss_types: tuple  # GRPO's loss types compared on validation at the rate chosen for the first
    beta: float  # weight of the KL term in grpo-kl
    lora_r: int  # LoRA rank, on every linear layer
    seeds: tuple  # seeds of every method: few-shot examples, adapters' start, samples, order
    news_blocks: int  # general-news blocks (the profile's lm_block_size tokens) for the drift perplexity


SIZES = {
    "smoke": RewardSizes(task="words", steps=2, prompts_per_step=2, group=2, micro_batch=2, new_tokens=8, val_items=2,
                         test_items=3, eval_every=2, lrs=(1e-3,), loss_types=("dr_grpo",), beta=0.04,
                         lora_r=8, seeds=(0,), news_blocks=1),
    "cpu": RewardSizes(task="add", steps=30, prompts_per_step=8, group=8, micro_batch=4, new_tokens=20, val_items=48,
                       test_items=162, eval_every=5, lrs=(3e-4, 1e-3, 3e-3), loss_types=("dr_grpo", "grpo"),
                       beta=0.04, lora_r=16, seeds=(0, 1, 2, 3, 4), news_blocks=8),
    "gpu": RewardSizes(task="add", steps=200, prompts_per_step=16, group=16, micro_batch=8, new_tokens=32,
                       val_items=162, test_items=162, eval_every=10, lrs=(1e-4, 3e-4, 1e-3),
                       loss_types=("dr_grpo", "grpo"), beta=0.04, lora_r=16, seeds=(0, 1, 2, 3, 4), news_blocks=32),
}


@reads.size_table
def reward_sizes(profile: str) -> RewardSizes:
    return SIZES[profile]


def policy_config(method: str, lr: float, seed: int, sizes: RewardSizes, loss_type: str = "dr_grpo") -> PolicyConfig:
    """The training loop's settings for a trained arm."""
    return PolicyConfig(objective="grpo" if method.startswith("grpo") else "rejection", loss_type=loss_type, lr=lr,
                        steps=sizes.steps, prompts_per_step=sizes.prompts_per_step, group=sizes.group,
                        micro_batch=sizes.micro_batch, new_tokens=sizes.new_tokens,
                        beta=sizes.beta if method == "grpo-kl" else 0.0, eval_every=sizes.eval_every, seed=seed)


@lru_cache(maxsize=1)
def own_right_answers(sizes: RewardSizes, seed: int) -> tuple:
    """Offline rejection sampling: the model as it is answers `group` times each of steps x prompts_per_step
    training questions (online rejection sampling's draws, in number, from a policy that never moves); the
    right answers kept as (prompt ids, completion ids). The same pool for every rate tried at a seed."""
    model, tokenizer = load_model(MODEL), load_tokenizer(MODEL)
    train = items(sizes.task, "train")
    order = random.Random(seed).sample(train, len(train))
    qa = [order[i % len(order)] for i in range(sizes.steps * sizes.prompts_per_step)]
    out = answered(model, tokenizer, sizes.task, qa, seed, sizes.new_tokens, n=sizes.group, temperature=1.0)
    pairs = [(p, c) for p, group in zip(out["prompts"], out["completions"]) for c in group]
    return tuple(pair for pair, right in zip(pairs, out["correct"]) if right)


def train(method: str, lr: float, seed: int, sizes: RewardSizes, loss_type: str = "dr_grpo") -> tuple:
    """LoRA (no dropout: answers are scored by the policy that sampled them) trained by `method` on the
    task's training questions, ending with the weights of its best greedy validation accuracy under the
    contract. Returns (the peft model, the run's record)."""
    tokenizer, pool = load_tokenizer(MODEL), None
    if method == "sft-own":
        pool = list(own_right_answers(sizes, seed))
        if not pool:
            raise ValueError("no sampled answer was right: the task is too hard for the model; choose another "
                             "with run_pilot")
    seed_everything(seed)
    model = add_lora(load_model(MODEL), r=sizes.lora_r, target_modules=ALL_LINEAR, dropout=0.0)
    train_qa = items(sizes.task, "train")
    val = items(sizes.task, "validation", sizes.val_items)
    evaluate = lambda m: float(answered(m, tokenizer, sizes.task, val, seed, sizes.new_tokens)["correct"].mean())
    run = train_policy(model, tokenizer, list(zip(chats(sizes.task, train_qa, seed), [a for _, a in train_qa])),
                       contract_graded, evaluate, policy_config(method, lr, seed, sizes, loss_type), pool)
    kept = {"samples_kept": len(pool), "samples_drawn": sizes.steps * sizes.prompts_per_step * sizes.group} if pool else {}
    return model, run | {"val_accuracy": run["val_score"], "loss_type": loss_type if method.startswith("grpo") else None} | kept


def results_folder(profile) -> Path:
    """Where the rebuilt lesson's results go until it replaces the lesson: apart from results/<profile>/, whose
    listing every executed lesson records (a new file there would make them all stale)."""
    return RESULTS / "rebuilt-12" / profile.name


def result_file(method: str, seed: int, profile, out_dir=None) -> Path:
    return Path(out_dir or results_folder(profile)) / result_name(method, MODEL, DATA, profile.name, seed)


def asked(profile) -> dict:
    """What a stored result must have been made from (protocol.stored): the sizes, the contract, the protocol."""
    return {"sizes": asdict(reward_sizes(profile.name)), "contract": CONTRACT, "shots": SHOTS, "protocol": VERSION}


def choose_setting(method: str, profile, out_dir=None) -> tuple:
    """The method's (learning rate, loss type) by its best validation accuracy at the first seed: the rate by
    widening_search over sizes.lrs; for GRPO, at that rate, the loss types compared. Returns (rate choice,
    loss choice or None); each Choice.winner holds (record, model) when trained in this call."""
    sizes, folder, provenance = reward_sizes(profile.name), Path(out_dir or results_folder(profile)), asked(profile)
    name, first = result_file(method, sizes.seeds[0], profile).stem, sizes.loss_types[0]
    describe = lambda v, r: {"value": v, "val_accuracy": r["val_accuracy"], "best_step": r["best_step"]}

    def at_rate(loss_type):
        return lambda lr: tuple(reversed(train(method, lr, sizes.seeds[0], sizes, loss_type)))

    grpo = method == "grpo"
    rate = widening_search(name, sizes.lrs, at_rate(first), folder,
                           lambda lr: provenance | {"lr": lr} | ({"loss_type": first} if grpo else {}),
                           label=lambda lr: f"{first}-lr{lr:g}" if grpo else f"lr{lr:g}", describe=describe)
    if not grpo:
        return rate, None
    loss = search(name, sizes.loss_types, lambda t: at_rate(t)(rate.value), folder,
                  lambda t: provenance | {"lr": rate.value, "loss_type": t}, label=lambda t: f"{t}-lr{rate.value:g}",
                  describe=describe)
    return rate, loss


def _trained(method: str, seed: int, profile, out_dir) -> tuple:
    """The method trained at the setting chosen on validation (grpo-kl: GRPO's, SETTING_FROM):
    (model, what the result file records)."""
    sizes = reward_sizes(profile.name)
    rate, loss = choose_setting(SETTING_FROM.get(method, method), profile, out_dir)
    loss_type = loss.value if loss else sizes.loss_types[0]
    winner = (loss.winner or (rate.winner if loss_type == sizes.loss_types[0] else None)) if loss else rate.winner
    if winner and seed == sizes.seeds[0] and method not in SETTING_FROM:
        record, model = winner
    else:
        model, record = train(method, rate.value, seed, sizes, loss_type)
    searched = {} if method in SETTING_FROM else search_fields(rate) | {
        "search_time_s": rate.seconds + (loss.seconds if loss else 0.0)}
    return model, record | {"lr": rate.value, "candidates": rate.candidates,
                            "loss_candidates": loss.candidates if loss else None} | searched


def news_perplexity(model, tokenizer, sizes: RewardSizes, profile) -> float:
    """Perplexity on held-out general news (lesson 01's drift measure), blocks of lm_block_size tokens."""
    return math.exp(news_loss(model, tokenizer, profile.lm_block_size, sizes.news_blocks))


def measure(model, tokenizer, method: str, sizes: RewardSizes, profile, seed: int) -> dict:
    """Every test question answered greedily (what a user of the model gets) and graded by both graders, every
    answer kept; KL to the starting model on one answer per question sampled at temperature 1; news
    perplexity. For few-shot (the model as it is), pass@k and majority@k over k = group sampled answers."""
    qa = items(sizes.task, "test", sizes.test_items)
    few_shot = method != "zero-shot"
    greedy = answered(model, tokenizer, sizes.task, qa, seed, sizes.new_tokens, few_shot)
    drawn = answered(model, tokenizer, sizes.task, qa, seed, sizes.new_tokens, few_shot, temperature=1.0)
    metrics = {"accuracy": float(greedy["correct"].mean()), "loose_accuracy": float(greedy["loose"].mean()),
               "cut_off": float(greedy["cut_off"].mean()), "chance": chance(sizes.task, "test"),
               "kl": mean_kl(model, tokenizer, drawn["prompts"], drawn["completions"]),
               "news_ppl": news_perplexity(model, tokenizer, sizes, profile)}
    record = {"test_correct": greedy["correct"].tolist(), "test_loose": greedy["loose"].tolist(),
              "test_cut_off": greedy["cut_off"].tolist(), "test_answers": greedy["flat_texts"],
              "test_ended": greedy["flat_ended"], "test_questions": [q for q, _ in qa], "test_truth": [a for _, a in qa]}
    if method == "few-shot":
        k = answered(model, tokenizer, sizes.task, qa, seed, sizes.new_tokens, n=sizes.group, temperature=1.0)
        right = k["correct"].reshape(len(qa), sizes.group)  # (items, k)
        record |= {"test_pass_at_k": right.max(1).tolist(),
                   "test_majority_at_k": [float(majority_correct(t, e, a))
                                          for t, e, (_, a) in zip(k["texts"], k["ended"], qa)]}
        metrics |= {"pass_at_k": float(right.max(1).mean()), "majority_at_k": float(np.mean(record["test_majority_at_k"]))}
    return {"metrics": metrics} | record


def adapter_folder(method: str, seed: int, profile) -> Path:
    """Where a trained arm's adapters are kept (git-ignored): any grader can re-answer the test with them."""
    return RUNS / "12_rewards" / profile.name / f"{method}-seed{seed}"


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
            model.save_pretrained(adapter_folder(method, seed, profile))
        else:
            model, record = load_model(MODEL), {}
        measured = measure(model, tokenizer, method, sizes, profile, seed)
    trainable, total = count_params(model)
    write_result(path.parent, method=method, model=MODEL, data=DATA, profile=profile.name, seed=seed,
                 metrics=measured.pop("metrics"), trainable_params=trainable, total_params=total,
                 wall_time_s=time.perf_counter() - start, peak_memory_mb=mem.mb,
                 examples=list(map(list, shots(sizes.task, seed))) if method != "zero-shot" else [],
                 **record, **measured, **provenance)
    return json.loads(path.read_text())


def runs_asked(profile) -> list[tuple[str, int]]:
    """Every (method, seed) of the lesson, seed by seed (the first seed of every method, with the searches,
    before any second seed): zero-shot once (greedy on the question alone: no seed changes it), every other
    arm at every seed."""
    seeds = reward_sizes(profile.name).seeds
    return [(m, s) for s in seeds for m in METHODS if m != "zero-shot" or s == seeds[0]]


def run_lesson(profile=None, skip_existing: bool = True) -> None:
    """Every method x seed of the lesson (what `make results` runs); stored results are read."""
    profile = profile or get_profile()
    for method, seed in tqdm(runs_asked(profile), desc="lesson 12: runs"):
        run_method(method, seed, skip_existing=skip_existing, profile=profile)


def regrade(record: dict) -> dict:
    """A result file's stored test answers graded again by both graders: {"correct", "loose", "cut_off"}."""
    return contract_graded(record["test_answers"], record["test_truth"], record["test_ended"])


def in_contract(record: dict) -> float:
    """The share of a run's test answers that keep the contract, right or wrong (they commit to a number)."""
    return float(np.mean([contract_answer(t, e) is not None for t, e in zip(record["test_answers"], record["test_ended"])]))


def fooled(record: dict) -> list[dict]:
    """The test answers the loose grader counts right and the contract does not: what a last-number reward
    would pay for."""
    return [{"question": q, "answer": a, "reply": t, "ended": e}
            for q, a, t, e, s, l in zip(record["test_questions"], record["test_truth"], record["test_answers"],
                                        record["test_ended"], record["test_correct"], record["test_loose"])
            if l and not s]


def _runs(folder):
    """Lesson 12's result rows."""
    return lesson_results(folder, "lesson 12", data=DATA, model=MODEL)


def compare(folder, a: str, b: str, column: str = "test_correct") -> Paired:
    """Paired difference a - b in points on the same test questions (`column`: test_correct (strict),
    test_loose, test_cut_off), seeds and items resampled together (protocol.seed_paired)."""
    return seed_paired(_runs(folder), a, b, column, scale=100)


def reward_table(folder):
    """One row per method (METHODS order), mean ± std over seeds: strict accuracy (the contract), loose accuracy
    (last number), the share of answers keeping the contract right or wrong, cut-off share, chance, KL to the starting model, news perplexity; the setting chosen, the step
    kept, the cost; the paired difference in strict accuracy from SFT on own right answers (95% interval over
    seeds and items)."""
    frame, rows = _runs(folder), []
    reference = frame[frame.method == "sft-own"]
    for method in [m for m in METHODS if m in set(frame.method)]:
        runs = frame[frame.method == method]
        trained = method in TRAINED
        rows.append({"method": method, "what it does": METHODS[method],
                     "strict accuracy %": mean_std(100 * runs.metric_accuracy, 1),
                     "loose accuracy %": mean_std(100 * runs.metric_loose_accuracy, 1),
                     "in contract %": mean_std([100 * in_contract(r) for r in runs.to_dict("records")], 1),
                     "cut off %": mean_std(100 * runs.metric_cut_off, 1),
                     "chance %": f"{100 * runs.metric_chance.iloc[0]:.1f}",
                     "KL to start": mean_std(runs.metric_kl, 2),
                     "news perplexity": mean_std(runs.metric_news_ppl, 1), "seeds": len(runs),
                     "learning rate": f"{runs.lr.iloc[0]:g}" if trained else "—",
                     "loss": runs.loss_type.iloc[0] if trained and runs.loss_type.iloc[0] else "—",
                     "step kept": " ".join(f"{s:.0f}" for s in runs.best_step) if trained else "—",
                     **cost_columns(runs),
                     "Δ strict vs sft-own": "—" if method == "sft-own" or reference.empty
                     else paired_difference(runs, reference)})
    return pd.DataFrame(rows)


def sampling_table(folder):
    """What the model as it is finds by sampling, beside what training gives: few-shot's greedy accuracy, its
    majority vote and pass@k over k sampled answers, and each trained arm's greedy accuracy (strict, %, mean ±
    std over seeds). A trained arm below pass@k sharpens what sampling already finds; above it, it adds skill."""
    frame = _runs(folder)
    base = frame[frame.method == "few-shot"]
    k = reward_sizes_of(base)["group"]
    rows = [{"what": "few-shot, greedy", "strict accuracy %": mean_std(100 * base.metric_accuracy, 1)},
            {"what": f"few-shot, majority of {k} samples", "strict accuracy %": mean_std(100 * base.metric_majority_at_k, 1)},
            {"what": f"few-shot, any of {k} samples right (pass@{k})", "strict accuracy %": mean_std(100 * base.metric_pass_at_k, 1)}]
    rows += [{"what": f"{m}, greedy", "strict accuracy %": mean_std(100 * frame[frame.method == m].metric_accuracy, 1)}
             for m in TRAINED if m in set(frame.method)]
    return pd.DataFrame(rows)


def reward_sizes_of(runs) -> dict:
    """The sizes a lesson's result rows were made from (every row of a lesson records the same)."""
    return runs["sizes"].iloc[0]


def plot_accuracy(folder, title: str | None = None):
    """Strict test accuracy of every method, one dot per seed and a bar at the mean; the lines: chance, and
    few-shot's majority vote and pass@k over k sampled answers."""
    import matplotlib.pyplot as plt
    frame = _runs(folder)
    methods = [m for m in METHODS if m in set(frame.method)]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for i, method in enumerate(methods):
        scores = 100 * frame[frame.method == method].metric_accuracy
        ax.bar(i, scores.mean(), color=f"C{i}", alpha=0.35)
        ax.plot([i] * len(scores), scores, "o", color=f"C{i}", ms=4)
    base = frame[frame.method == "few-shot"]
    k = reward_sizes_of(frame)["group"]
    for value, style, label in ((100 * frame.metric_chance.iloc[0], ":", "chance"),
                                (100 * base.metric_majority_at_k.mean(), "--", f"few-shot, majority of {k}"),
                                (100 * base.metric_pass_at_k.mean(), "-.", f"few-shot, pass@{k}")):
        ax.axhline(value, ls=style, color="grey", lw=1)
        ax.text(len(methods) - 0.5, value, label, fontsize=7, va="bottom", ha="right")
    ax.set_xticks(range(len(methods)), methods)
    ax.set(ylabel="strict test accuracy %", title=title or "Test accuracy under the answer contract (dots: seeds)")
    fig.tight_layout()
    return fig


DIAGNOSTICS = (("reward", "mean reward of the step's answers"), ("no_signal_groups", "groups all right or all wrong"),
               ("cut_off", "answers cut off"), ("length", "answer length (tokens)"), ("kl", "KL to start (nats/token)"))


def plot_training(folder, title: str | None = None):
    """Every seed of every trained arm: validation accuracy at each evaluation (a star at the weights kept) and
    the per-step diagnostics of its training answers (reward, groups that teach nothing, cut-off share,
    length, KL). Offline rejection sampling samples nothing while it trains: only its length and KL show."""
    import matplotlib.pyplot as plt
    frame = _runs(folder)
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for i, method in enumerate(m for m in TRAINED if m in set(frame.method)):
        for j, (_, run) in enumerate(frame[frame.method == method].iterrows()):
            label = method if j == 0 else None
            curve, log = pd.DataFrame(run.val_curve), pd.DataFrame(run.log)
            axes[0, 0].plot(curve.step, 100 * curve.score, "-", color=f"C{i}", lw=1, alpha=0.7, label=label)
            best = curve[curve.step == run.best_step].iloc[0]
            axes[0, 0].plot(best.step, 100 * best.score, "*", ms=9, color=f"C{i}")
            for ax, (key, _) in zip(axes.flat[1:], DIAGNOSTICS):
                if key in log and log[key].notna().any():
                    points = log[["step", key]].dropna()  # KL is measured at the evaluation steps only (beta 0)
                    ax.plot(points.step, points[key], color=f"C{i}", lw=1, alpha=0.7, label=label)
    axes[0, 0].axhline(100 * frame.metric_chance.iloc[0], ls=":", color="grey", lw=1)
    axes[0, 0].set(xlabel="optimizer step", ylabel="validation strict accuracy %",
                   title=title or "Validation (star: weights kept; dotted: chance)")
    for ax, (_, name) in zip(axes.flat[1:], DIAGNOSTICS):
        ax.set(xlabel="optimizer step", title=name)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def fooled_answers(folder, method: str, n: int = 20):
    """Up to n test answers of `method` (over its seeds) that the loose grader counts right and the contract
    does not."""
    frame = _runs(folder)
    rows = [r | {"seed": seed} for seed, record in zip(frame[frame.method == method].seed,
                                                      frame[frame.method == method].to_dict("records"))
            for r in fooled(record)]
    return pd.DataFrame(rows[:n], columns=["seed", "question", "answer", "reply", "ended"])


def samples(folder, methods, seed: int = 0, n: int = 8):
    """The first n test questions and each method's greedy answer at `seed`."""
    frame, table = _runs(folder), {}
    for method in methods:
        record = frame[(frame.method == method) & (frame.seed == seed)].iloc[0]
        table.setdefault("question", record.test_questions[:n])
        table.setdefault("answer", record.test_truth[:n])
        table[method] = record.test_answers[:n]
    return pd.DataFrame(table)


def against_sampling(folder, method: str, column: str = "test_pass_at_k") -> Paired:
    """A trained arm's greedy strict accuracy minus what the model as it is finds by sampling k answers
    (few-shot's pass@k, or test_majority_at_k), on the same test questions and seeds: below 0, training
    sharpened what sampling already found; above 0, it found answers no sample of the starting model had."""
    frame = _runs(folder)
    base = frame[frame.method == "few-shot"].assign(method="sampling", test_correct=lambda f: f[column])
    return seed_paired(pd.concat([frame[frame.method == method], base]), method, "sampling", "test_correct", scale=100)


def describe(folder, a: str, b: str, column: str = "test_correct") -> str:
    """compare() in one sentence (protocol.describe_difference), in points of strict accuracy."""
    return describe_difference(a, b, compare(folder, a, b, column), unit="points")


def still_rising(folder) -> list[str]:
    """One line per trained arm whose validation peaked at its last evaluation on some seed: which seeds, and
    by how many points the last evaluation rose over the one before (the budget may have ended too soon)."""
    frame, lines = _runs(folder), []
    for method in (m for m in TRAINED if m in set(frame.method)):
        rising = {}
        for _, run in frame[frame.method == method].iterrows():
            curve = run.val_curve
            if run.best_step == curve[-1]["step"] and len(curve) > 1:
                rising[run.seed] = 100 * (curve[-1]["score"] - curve[-2]["score"])
        if rising:
            gains = ", ".join(f"seed {s} +{g:.1f}" for s, g in rising.items())
            lines.append(f"{method}: still rising at its last evaluation on {len(rising)} of "
                         f"{(frame.method == method).sum()} seeds ({gains} points over the evaluation before)")
    return lines
