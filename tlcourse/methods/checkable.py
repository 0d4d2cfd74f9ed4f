"""Tasks whose answers a program can check: generated questions with integer answers, their chats,
completions sampled from a chat model, the grade of each completion, and GRPO's group-relative advantages.

    items("add", "validation", 64)           # [(question, answer)], fixed and disjoint across splits
    complete(model, tok, questions, n=8, temperature=1.0)   # [8 completions] per question
    graded(completions, answers)             # {"correct": (N,) 0/1, "format": (N,) 0/1}
    group_advantages(rewards, group=8)       # (reward - group mean) / (group std + 1e-4), as TRL's GRPO
A task's answer is an integer; the format asked for is the digits alone. Correctness reads the last
integer of the completion (its final word, after any working), so a right answer at the end of a chatty
sentence still counts as right, and the format share says how much of a gain is only the model learning
to answer tersely.
"""
import random
import re

import numpy as np
import torch

from ..engine.infer import continuations
from .sft import chat_ids, SYSTEM

UNITS = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
WORDS = ("apple", "river", "window", "garden", "pencil", "orange", "planet", "bridge", "candle", "forest",
         "basket", "yellow", "silver", "monkey", "rocket", "summer", "pepper", "castle", "button", "tomato")


def english_number(n: int) -> str:
    """0 <= n < 100 in English words: 42 -> "forty-two"."""
    if n < 10:
        return UNITS[n]
    if n < 20:
        return TEENS[n - 10]
    return TENS[n // 10] + ("" if n % 10 == 0 else "-" + UNITS[n % 10])


def _add() -> list[tuple[str, int]]:
    return [(f"What is {a} + {b}?", a + b) for a in range(10, 100) for b in range(1, 10)]


def _subtract() -> list[tuple[str, int]]:
    return [(f"What is {a} - {b}?", a - b) for a in range(10, 100) for b in range(1, 10)]


def _single() -> list[tuple[str, int]]:
    return [(f"What is {a} + {b}?", a + b) for a in range(10) for b in range(10)]


def _larger() -> list[tuple[str, int]]:
    return [(f"Which is larger, {a} or {b}?", max(a, b)) for a in range(10, 100) for b in range(10, 100) if a != b]


def _words() -> list[tuple[str, int]]:
    return [(f"Write {english_number(n)} as a number.", n) for n in range(100)]


def _letter() -> list[tuple[str, int]]:
    return [(f"At which position, counting from 1, is the first '{c}' in '{w}'?", w.index(c) + 1)
            for w in WORDS for c in dict.fromkeys(w)]


TASKS = {  # task -> (what it asks, every (question, integer answer) it has)
    "single": ("a one-digit number plus a one-digit number", _single),
    "add": ("a two-digit number plus a one-digit number", _add),
    "subtract": ("a two-digit number minus a one-digit number", _subtract),
    "larger": ("the larger of two two-digit numbers", _larger),
    "words": ("an English number word (0-99) written in digits", _words),
    "letter": ("the position of a letter in a six-letter word", _letter),
}
INSTRUCTION = " Reply with the number only."  # the format asked for: the digits alone
SHARES = {"test": 0.2, "validation": 0.2, "train": 0.6}  # of a task's questions, split once


def items(task: str, split: str, n: int | None = None) -> list[tuple[str, int]]:
    """The first n (question, answer) items of `task`'s split (None: all). Every question of the task,
    shuffled once (seed 0), is cut into test, validation and train by SHARES: the splits never overlap
    and do not move when n does."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
    if split not in SHARES:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SHARES)}")
    every = TASKS[task][1]()
    random.Random(0).shuffle(every)
    bounds = np.cumsum([0] + [round(share * len(every)) for share in SHARES.values()])
    bounds[-1] = len(every)
    i = list(SHARES).index(split)
    return every[bounds[i]:bounds[i + 1]][:n]


def chat(question: str, examples=()) -> list[dict]:
    """The question as a user turn after the course's empty system turn (methods.sft); each
    (question, answer) example first, answered in the format asked for (few-shot)."""
    turns = [{"role": "system", "content": SYSTEM}]
    for q, a in examples:
        turns += [{"role": "user", "content": q + INSTRUCTION}, {"role": "assistant", "content": str(a)}]
    return turns + [{"role": "user", "content": question + INSTRUCTION}]


INTEGER = re.compile(r"-?\d+")  # an answer; the whole completion, stripped, must be one to be in format


def graded(completions, answers) -> dict:
    """{"correct": (N,) 1 where the completion's last integer is the answer (its final word on it, after any
    working), "format": (N,) 1 where the stripped completion is an integer and nothing else}."""
    lasts = [INTEGER.findall(c)[-1:] for c in completions]
    correct = [float(bool(last) and int(last[0]) == a) for last, a in zip(lasts, answers)]
    kept = [float(INTEGER.fullmatch(c.strip()) is not None) for c in completions]
    return {"correct": np.array(correct), "format": np.array(kept)}


def generate(model, tokenizer, questions, n: int = 1, temperature: float = 0.0, new_tokens: int = 8,
             seed: int = 0, batch_size: int = 64, examples=()) -> tuple[list, list]:
    """n completions of each question's chat (greedy at temperature 0, else sampled, untruncated):
    (prompt ids per question, [n completion ids] per question); a completion ends at the end-of-turn
    token (kept) or after new_tokens."""
    torch.manual_seed(seed)
    prompts = [chat_ids(tokenizer, chat(q, examples), generation_prompt=True) for q in questions]
    how = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
    return prompts, continuations(model, tokenizer, prompts, n, new_tokens, batch_size, **how)


def complete(model, tokenizer, questions, n: int = 1, **kwargs) -> list[list[str]]:
    """generate()'s completions as text: [n texts] per question, special tokens dropped."""
    _, groups = generate(model, tokenizer, questions, n, **kwargs)
    return [tokenizer.batch_decode(group, skip_special_tokens=True) for group in groups]


def group_advantages(rewards, group: int) -> np.ndarray:
    """GRPO's advantages (Shao et al. 2024), as TRL computes them: each reward minus its group's mean,
    divided by the group's standard deviation (Bessel-corrected) + 1e-4. rewards: (N,) with N a
    multiple of `group`, each group the completions of one prompt. A group whose rewards are all
    equal gets advantages 0: it teaches nothing."""
    r = np.asarray(rewards, dtype=float).reshape(-1, group)  # (prompts, group)
    return ((r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-4)).ravel()


def correctness_reward(completions, answer, **kwargs) -> list[float]:
    """TRL reward function: 1 where the completion's last integer is the answer, else 0.
    completions: conversational (a list of messages each) or plain texts."""
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return graded(texts, answer)["correct"].tolist()
