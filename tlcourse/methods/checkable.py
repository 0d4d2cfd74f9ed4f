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
GUESSES = {  # task -> the answers a guesser picks among for a question, where fewer than all the task's answers
    "larger": lambda q: set(map(int, INTEGER.findall(q))),  # one of the two numbers asked about: a coin flip
    "letter": lambda q: set(range(1, 7)),  # a position in a six-letter word
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


def chance(task: str, split: str = "test") -> float:
    """The accuracy of guessing uniformly among a question's plausible answers (GUESSES; else every answer
    the task has), averaged over the split: the floor a trained model must rise above."""
    qa = items(task, split)
    every = {a for _, a in TASKS[task][1]()}
    guesses = [GUESSES[task](q) if task in GUESSES else every for q, _ in qa]
    return float(np.mean([(a in g) / len(g) for (_, a), g in zip(qa, guesses)]))


def chat(question: str, examples=()) -> list[dict]:
    """The question as a user turn after the course's empty system turn (methods.sft); each
    (question, answer) example first, answered in the format asked for (few-shot)."""
    turns = [{"role": "system", "content": SYSTEM}]
    for q, a in examples:
        turns += [{"role": "user", "content": q + INSTRUCTION}, {"role": "assistant", "content": str(a)}]
    return turns + [{"role": "user", "content": question + INSTRUCTION}]


INTEGER = re.compile(r"-?\d+")  # an answer; the whole completion, stripped, must be one to be in format
CONTRACT = " End your reply with a last line of the form 'Answer: N', N the number."  # the final form asked for
ANSWER = re.compile(r"Answer: (-?\d+)")  # the contract's line, whole


def contract_chat(question: str, examples=()) -> list[dict]:
    """The question under the answer contract, after the course's empty system turn; each (question,
    answer) example first, answered with the contract's line alone (few-shot)."""
    turns = [{"role": "system", "content": SYSTEM}]
    for q, a in examples:
        turns += [{"role": "user", "content": q + CONTRACT}, {"role": "assistant", "content": f"Answer: {a}"}]
    return turns + [{"role": "user", "content": question + CONTRACT}]


def contract_answer(completion: str, ended: bool = True) -> int | None:
    """The number a completion commits to under the contract, or None: it must have ended (not been cut off
    at the token limit), its last line must be 'Answer: N' and no other line may say 'Answer:'."""
    lines = completion.strip().splitlines()
    last = ANSWER.fullmatch(lines[-1].strip()) if ended and lines else None
    return int(last[1]) if last and completion.count("Answer:") == 1 else None


def last_integer(completion: str) -> int | None:
    """The completion's last integer, wherever it stands: the loose grader's reading."""
    found = INTEGER.findall(completion)
    return int(found[-1]) if found else None


def contract_graded(completions, answers, ended) -> dict:
    """Each completion under both graders: {"correct": (N,) 1 where contract_answer is the answer (strict),
    "loose": (N,) 1 where last_integer is, "cut_off": (N,) 1 where it ran into the token limit}.
    ended: (N,) whether each completion reached its end-of-turn token."""
    strict = [contract_answer(c, e) == a for c, a, e in zip(completions, answers, ended)]
    loose = [last_integer(c) == a for c, a in zip(completions, answers)]
    return {"correct": np.array(strict, dtype=float), "loose": np.array(loose, dtype=float),
            "cut_off": 1.0 - np.array(ended, dtype=float)}


def majority_correct(completions, ended, answer: int) -> bool:
    """Majority vote over one question's samples: the most frequent contract answer (ties: the first to
    reach the count) is the answer; samples that commit to none do not vote."""
    votes = [v for v in map(contract_answer, completions, ended) if v is not None]
    return bool(votes) and max(votes, key=votes.count) == answer


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


def sampled(model, tokenizer, chats, n: int = 1, temperature: float = 0.0, new_tokens: int = 8, seed: int = 0,
            batch_size: int = 64) -> dict:
    """n completions of each chat (greedy at temperature 0, else sampled untruncated, seeded):
    {"prompts": ids per chat, "completions": [n ids] per chat, "texts": [n texts] per chat, "ended": [n bools]
    per chat}; a completion ends at the end-of-turn token (kept in its ids, ended) or after new_tokens."""
    torch.manual_seed(seed)
    prompts = [chat_ids(tokenizer, c, generation_prompt=True) for c in chats]
    how = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
    groups = continuations(model, tokenizer, prompts, n, new_tokens, batch_size, share_prompt=True, **how)
    return {"prompts": prompts, "completions": groups,
            "texts": [tokenizer.batch_decode(g, skip_special_tokens=True) for g in groups],
            "ended": [[bool(c) and c[-1] == tokenizer.eos_token_id for c in g] for g in groups]}


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
