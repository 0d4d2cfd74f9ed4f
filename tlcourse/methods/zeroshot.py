"""Zero-shot baselines: what pretrained models do on the task with no training at all.

    prompt = Prompt()                                         # instruction + review + "Sentiment:"
    logp = label_logprobs(lm, tok, texts, prompt)             # (N, K) log p(label word | prompt)
    shots = fewshot_prompt(ds["train"], k=4, seed=0)          # k labelled reviews in the prompt
    sims = embed_similarity(encoder, tok, texts, DESCRIPTIONS)  # (N, K) cosine to label descriptions

The part of the prompt before the review (instruction, examples, chat system turn) is the same
for every review: it runs through the model once and its keys/values are reused (a KV cache).
"""
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine.device import autocast, model_device
from ..engine.infer import length_batches
from .features import embed

LABEL_WORDS = (" negative", " positive")  # Rotten Tomatoes label order: 0 rotten, 1 fresh
DESCRIPTIONS = ("a negative movie review", "a positive movie review")
MARK = "\x00REVIEW\x00"  # stands for the review while a prompt is rendered, then split on


@dataclass(frozen=True)
class Prompt:
    instruction: str = "Is this movie review negative or positive?"  # first line of the prompt
    label_words: tuple = LABEL_WORDS  # one token each, in label order
    examples: tuple = ()  # (text, label) pairs shown before the review: few-shot
    chat: bool = False  # wrap the prompt in the tokenizer's chat template (user turn)

    def render(self, tokenizer, text: str = MARK) -> str:
        """The full prompt for one review; the model's answer is the next token."""
        shots = "".join(f"Review: {t}\nSentiment: {self.label_words[y].strip()}\n\n" for t, y in self.examples)
        body = f"{self.instruction}\n\n{shots}Review: {text}\nSentiment:"
        if not self.chat:
            return body
        return tokenizer.apply_chat_template([{"role": "user", "content": body}], tokenize=False,
                                             add_generation_prompt=True)

    def parts(self, tokenizer) -> tuple[str, str]:
        """The text before the review (ending in "Review:") and after it."""
        before, after = self.render(tokenizer).split(MARK)
        return before.removesuffix(" "), after  # the review keeps its leading space: " word" tokens


def label_token_ids(tokenizer, words) -> list[int]:
    """The single token id of each label word; a clear error for words that are not one token."""
    if len(words) < 2:
        raise ValueError(f"give at least two label words, one per class; got {list(words)}")
    ids = [tokenizer(w, add_special_tokens=False)["input_ids"] for w in words]
    split = {w: [tokenizer.decode([i]) for i in t] for w, t in zip(words, ids) if len(t) != 1}
    if split:
        raise ValueError(f"each label word must be exactly one token; these are not: {split}. Try "
                         "a leading space (' positive') or a shorter, more common word")
    if len({t[0] for t in ids}) < len(ids):
        raise ValueError(f"label words {list(words)} must be different tokens")
    return [t[0] for t in ids]


def prefix_kv(decoder, ids) -> list:
    """Keys and values of the shared prefix, once: per layer a pair of (1, H, P, D). ids: (1, P)."""
    cache = decoder(input_ids=ids, use_cache=True).cache
    return [(layer.keys, layer.values) for layer in cache.layers]


def batch_cache(kv: list, batch: int):
    """A fresh cache holding the prefix for every row of a batch: (B, H, P, D) views, no copy.
    The forward pass appends to a cache, so each batch needs its own."""
    from transformers import DynamicCache
    cache = DynamicCache()
    for i, (k, v) in enumerate(kv):
        cache.update(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1), i)
    return cache


def _pad_right(rows: list, pad_id: int, device):
    """input_ids and attention_mask, each (B, T): padding after the tokens, where a causal model's
    earlier positions cannot see it."""
    T = max(map(len, rows))
    ids = [r + [pad_id] * (T - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (T - len(r)) for r in rows]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


@torch.inference_mode()
def label_logprobs(model, tokenizer, texts, prompt: Prompt = Prompt(), batch_size: int = 32,
                   max_length: int | None = None, progress: bool = True) -> np.ndarray:
    """log p(label word | prompt with the review) for each review and label word: (N, K).

    Reviews are cut to max_length tokens (None: whole), sorted by length so a
    batch holds similar lengths, and right-padded; each row is read at its last real token.
    """
    if not len(texts):
        raise ValueError("no texts to score: pass a list of reviews")
    word_ids = label_token_ids(tokenizer, prompt.label_words)  # (K,)
    before, after = prompt.parts(tokenizer)
    tail = tokenizer(after, add_special_tokens=False)["input_ids"]
    rows = [ids[:max_length] + tail for ids in
            tokenizer([f" {t}" for t in texts], add_special_tokens=False)["input_ids"]]
    model.eval()
    decoder, head, device = model.get_decoder(), model.get_output_embeddings(), model_device(model)
    out = np.zeros((len(rows), len(word_ids)), dtype=np.float32)
    with autocast(model):
        prefix = torch.tensor([tokenizer(before)["input_ids"]], device=device)  # (1, P)
        kv = prefix_kv(decoder, prefix)
        for batch in tqdm(length_batches([len(r) for r in rows], batch_size), desc="scoring",
                          disable=not progress):
            ids, mask = _pad_right([rows[i] for i in batch], tokenizer.pad_token_id, device)  # (B, T) each
            full = torch.cat([torch.ones_like(prefix).expand(len(batch), -1), mask], 1)  # (B, P + T)
            hidden = decoder(input_ids=ids, attention_mask=full,
                             cache=batch_cache(kv, len(batch))).last_hidden_state  # (B, T, C)
            last = hidden[torch.arange(len(batch)), mask.sum(1) - 1]  # (B, C) at each row's last token
            logp = head(last).float().log_softmax(-1)  # (B, V): only these rows need the vocab
            out[batch] = logp[:, word_ids].cpu().numpy()
    return out


def fewshot_prompt(train, k: int, seed: int, prompt: Prompt = Prompt()) -> Prompt:
    """`prompt` with k training reviews, k / classes of each label, chosen and ordered by seed."""
    labels = np.asarray(train["label"])
    classes = len(prompt.label_words)
    if k % classes:
        raise ValueError(f"k={k} cannot be balanced over {classes} labels: use a multiple of {classes}")
    rng = np.random.default_rng(seed)
    picks = np.concatenate([rng.choice(np.flatnonzero(labels == c), k // classes, replace=False)
                            for c in range(classes)])
    rng.shuffle(picks)
    return replace(prompt, examples=tuple((train[int(i)]["text"], int(labels[i])) for i in picks))


def embed_similarity(model, tokenizer, texts, descriptions=DESCRIPTIONS, max_length: int = 128,
                     progress: bool = True) -> np.ndarray:
    """Cosine similarity of each text's mean-pooled embedding to each description's: (N, K)."""
    X = embed(model, tokenizer, list(texts), max_length=max_length, progress=progress)  # (N, C)
    D = embed(model, tokenizer, list(descriptions), max_length=max_length, progress=False)  # (K, C)
    X, D = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (X, D))
    return X @ D.T


def confusion(y_true, y_pred, classes: int) -> np.ndarray:
    """Counts (K, K): row = true label, column = predicted label."""
    return np.bincount(np.asarray(y_true) * classes + np.asarray(y_pred),
                       minlength=classes * classes).reshape(classes, classes)
