"""Lesson 02's experiment: the zero-shot baselines scored on the profile's test reviews, one result
JSON each (the floor every trained method of lessons 03-09 is read against).

    run_baseline("zeroshot-lm")                 # prompt SmolLM2, compare the label words
    run_baseline("fewshot-lm", seed=1, k=4)     # 4 labelled training reviews in the prompt
    run_baseline("zeroshot-embed")              # MiniLM embeddings against label descriptions
"""
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..engine.config import RESULTS, get_profile
from ..engine.data import data_hash, take
from ..engine.device import pick_device
from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.memory import PeakTracker
from ..engine.records import result_name, write_result
from ..methods.zeroshot import confusion, DESCRIPTIONS, embed_similarity, fewshot_prompt, label_logprobs, Prompt
from ..experiments.protocol import Choice, search, stored, VERSION

PROMPTS = {  # lesson 02's two prompt formats, chosen between on validation (choose_prompt)
    "plain": Prompt(),  # "Review: ...\nSentiment:" and the label words " negative" / " positive"
    "chat template": Prompt(chat=True, label_words=("negative", "positive")),  # the reply starts a line
}

METHODS = {  # result method name -> (model, what it does)
    "zeroshot-lm": ("smollm2-135m", "prompt SmolLM2, compare the label words' next-token probabilities"),
    "fewshot-lm": ("smollm2-135m", "the same, with k labelled training reviews in the prompt"),
    "zeroshot-embed": ("minilm-l6", "cosine similarity of MiniLM embeddings to label descriptions"),
}


def choose_prompt(profile=None, out_dir=None) -> Choice:
    """The prompt format (a PROMPTS name) chosen on validation accuracy by the course's one search,
    never on test; each format's validation record keeps every review's correctness (val_correct),
    so the two can be compared item by item (protocol.paired_bootstrap)."""
    profile = profile or get_profile()
    ds = take(load_dataset("rotten_tomatoes"), profile)["validation"]
    texts, y = list(ds["text"]), np.asarray(ds["label"])
    model = []  # loaded on the first format that is not stored

    def validate(name):
        if not model:
            model.append(load_model("smollm2-135m", task="causal-lm").to(pick_device()))
        scores = label_logprobs(model[0], load_tokenizer("smollm2-135m"), texts, PROMPTS[name],
                                max_length=profile.max_length, progress=False)  # (N, 2)
        correct = scores.argmax(1) == y
        return {"val_accuracy": float(correct.mean()), "val_correct": correct.astype(int).tolist(),
                "predicted_positive": float((scores.argmax(1) == 1).mean()),
                "label_mass": float(np.exp(scores).sum(1).mean())}, None

    asked = {"protocol": {"version": VERSION, "eval_size": profile.eval_size, "max_length": profile.max_length},
             "data_hash": data_hash({"validation": ds})}
    return search("zeroshot-lm-prompt", tuple(PROMPTS), validate, Path(out_dir or RESULTS / profile.name),
                  lambda name: asked | {"prompt": asdict(PROMPTS[name])}, label=lambda name: name.replace(" ", "-"),
                  describe=lambda name, r: {"value": name} | r)


def _scores(method, seed, k, prompt, ds, max_length: int):
    """(N, K) scores of the test reviews, the model's parameter count, labelled examples used."""
    model_name = METHODS[method][0]
    tokenizer, texts = load_tokenizer(model_name), list(ds["test"]["text"])
    model = load_model(model_name, task="causal-lm" if method.endswith("-lm") else "base").to(pick_device())
    total = sum(p.numel() for p in model.parameters())
    if method == "zeroshot-embed":
        return embed_similarity(model, tokenizer, texts, max_length=max_length, progress=False), total, 0
    if method == "fewshot-lm":
        prompt = fewshot_prompt(ds["train"], k, seed, prompt)
    scores = label_logprobs(model, tokenizer, texts, prompt, max_length=max_length, progress=False)
    return scores, total, len(prompt.examples)


def run_chosen(profile=None, out_dir=None) -> dict:
    """zeroshot-lm's result file in the prompt format chosen on validation (choose_prompt): the course's
    no-training answer, read while it stands for this profile and data (protocol.stored), else scored now."""
    profile = profile or get_profile()
    return run_baseline("zeroshot-lm", prompt=PROMPTS[choose_prompt(profile, out_dir).value], out_dir=out_dir,
                        profile=profile)


def run_baseline(method: str, seed: int = 0, k: int = 4, prompt: Prompt = Prompt(), out_dir=None,
                 profile=None) -> dict:
    """Score the profile's test reviews with one baseline and write its result JSON; the record. A
    stored result is read instead while it stands for this run (protocol.stored: sizes, prompt, data).

    The record also keeps the confusion matrix, each test item's correctness (test_correct: the same
    items as the trained methods', for paired differences) and the label words or descriptions used.
    """
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; use one of {', '.join(METHODS)}")
    profile = profile or get_profile()
    ds = take(load_dataset("rotten_tomatoes"), profile)
    folder = Path(out_dir or RESULTS / profile.name)
    asked = {"protocol": {"version": VERSION, "eval_size": profile.eval_size, "max_length": profile.max_length,
                          "k": k if method == "fewshot-lm" else 0, "prompt": asdict(prompt)},
             "data_hash": data_hash(ds)}
    old = stored(folder / result_name(method, METHODS[method][0], "rotten_tomatoes", profile.name, seed), asked)
    return old or _score(method, seed, k, prompt, ds, profile, folder, asked)


def _score(method, seed, k, prompt, ds, profile, folder, asked) -> dict:
    start = time.perf_counter()
    with PeakTracker() as mem:
        scores, total, shots = _scores(method, seed, k, prompt, ds, profile.max_length)
    wall = time.perf_counter() - start
    y, pred = np.asarray(ds["test"]["label"]), scores.argmax(1)
    how = ({"descriptions": list(DESCRIPTIONS)} if method == "zeroshot-embed" else
           {"label_words": list(prompt.label_words), "chat": prompt.chat, "k": shots})
    path = write_result(folder, method=method, model=METHODS[method][0],
                        data="rotten_tomatoes", profile=profile.name, seed=seed,
                        metrics={"accuracy": float((pred == y).mean())}, trainable_params=0, total_params=total,
                        wall_time_s=wall, peak_memory_mb=mem.mb, checkpoint_size_mb=0.0, train_size=shots, test_size=len(y),
                        confusion=confusion(y, pred, scores.shape[1]).tolist(),
                        test_correct=(pred == y).astype(int).tolist(), **how, **asked)
    return json.loads(Path(path).read_text())
