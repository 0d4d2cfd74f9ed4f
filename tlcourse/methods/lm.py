"""A causal language model's basic moves: next-token probabilities, perplexity, sampling, LM blocks.

    next_token_table(model, tok, "The capital of France is")  # the top-k next tokens
    perplexity(model, tok, texts, max_length=128)              # exp(mean loss per token)
    sample(model, tok, "Once upon a time", temperature=0.7)    # model.generate
    pack_blocks(texts, tok, block_size=128)                    # Dataset of input_ids / labels
"""
import math
import random

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..engine.attention import cpu_attention
from ..engine.device import autocast, model_device
from ..engine.infer import length_batches

IGNORE = -100  # label value that cross-entropy skips (padding, tokens already scored)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def next_token_probs(model, tokenizer, prompt: str) -> torch.Tensor:
    """The model's probability for every vocabulary entry to come right after `prompt`: (V,)."""
    model.eval()
    ids = torch.tensor([_ids(tokenizer, prompt)], device=model_device(model))  # (1, T)
    logits = model(input_ids=ids).logits[0, -1]  # (V,) scores for position T + 1
    return logits.float().softmax(-1)


def next_token_table(model, tokenizer, prompt: str, k: int = 10):
    """The k most likely next tokens with their probabilities (a DataFrame, most likely first)."""
    top = next_token_probs(model, tokenizer, prompt).topk(k)
    return pd.DataFrame({"token": [repr(tokenizer.decode([i])) for i in top.indices.tolist()],
                         "probability": [round(p, 4) for p in top.values.tolist()]}, index=pd.RangeIndex(1, k + 1, name="rank"))


def windows(ids: list[int], max_length: int, stride: int) -> list[tuple[list, list]]:
    """(input_ids, labels) windows over one text. Each window after the first scores the next
    `stride` tokens with max_length - stride tokens of context; every token but the first is
    scored exactly once (the first has no context)."""
    if not 0 < stride < max_length:
        raise ValueError(f"stride must be in 1..max_length - 1 ({max_length - 1}), got {stride}")
    out, scored_to = [], 1  # tokens before scored_to are scored (or, token 0, never will be)
    while scored_to < len(ids):
        end = min(scored_to + stride if out else max_length, len(ids))
        start = max(0, end - max_length)
        labels = [IGNORE] * (scored_to - start) + ids[scored_to:end]  # context only, then scored
        out.append((ids[start:end], labels))
        scored_to = end
    return out


def _pad(batch: list, pad_id: int, device):
    """Right-pad windows to one length: input_ids, attention_mask, labels, each (B, T)."""
    T = max(len(ids) for ids, _ in batch)
    ids = [x + [pad_id] * (T - len(x)) for x, _ in batch]
    mask = [[1] * len(x) + [0] * (T - len(x)) for x, _ in batch]
    labels = [y + [IGNORE] * (T - len(y)) for _, y in batch]
    return (torch.tensor(t, device=device) for t in (ids, mask, labels))


@torch.inference_mode()
def token_nll(model, tokenizer, texts, max_length: int, stride=None, batch_size=8, progress=True):
    """Summed negative log-likelihood (nats) of the scored tokens of `texts`, and how many."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    wins = [w for t in texts for w in windows(_ids(tokenizer, t), max_length, stride or max_length // 2)]
    model.eval()
    total, count = 0.0, 0
    batches = length_batches([len(ids) for ids, _ in wins], batch_size)
    with autocast(model):
        for idx in tqdm(batches, desc="perplexity", disable=not progress or len(batches) < 4, leave=False):
            ids, mask, labels = _pad([wins[i] for i in idx], tokenizer.pad_token_id, model_device(model))
            logits = model(input_ids=ids, attention_mask=mask).logits.float()  # (B, T, V)
            y = labels[:, 1:]  # (B, T-1): position t predicts token t + 1
            total += F.cross_entropy(logits[:, :-1].transpose(1, 2), y, ignore_index=IGNORE,
                                     reduction="sum").item()
            count += (y != IGNORE).sum().item()
    return total, count


def perplexity(model, tokenizer, texts, max_length: int, stride=None, batch_size=8, progress=True) -> float:
    """exp(mean loss per token) over all tokens of `texts` (a string or a list): the number of
    equally likely choices the model is, on average, hesitating between at each token."""
    total, count = token_nll(model, tokenizer, texts, max_length, stride, batch_size, progress)
    if count == 0:
        raise ValueError("no token was scored: each text needs at least two tokens")
    return math.exp(total / count)


def shuffle_words(text: str, seed: int = 0) -> str:
    """The same words in a random order: same vocabulary, no grammar (the control for perplexity)."""
    words = text.split()
    random.Random(seed).shuffle(words)
    return " ".join(words)


@torch.no_grad()
def sample(model, tokenizer, prompt: str, max_new_tokens: int = 40, temperature: float = 1.0,
           top_k: int | None = None, n: int = 1, seed: int = 0) -> list[str]:
    """`n` continuations of `prompt` (the prompt itself left out). temperature 0 = greedy decoding;
    top_k keeps only the k most likely tokens at each step (None: all of them)."""
    torch.manual_seed(seed)
    model.eval()
    ids = torch.tensor([_ids(tokenizer, prompt)], device=model_device(model))  # (1, T)
    how = (dict(do_sample=True, temperature=temperature, top_k=top_k or 0, num_return_sequences=n)
           if temperature > 0 else dict(do_sample=False))
    with autocast(model), cpu_attention(model, "inference"):
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, **how)  # (n, T + new)
    return tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)


def pack_blocks(texts, tokenizer, block_size: int, n_blocks: int | None = None):
    """Join texts (EOS between them) into one token stream and cut it into blocks of block_size
    (a profile's lm_block_size in the lessons); n_blocks = how many (None: all). A datasets.Dataset with
    input_ids and labels; labels = input_ids, as the model shifts them to predict the next token."""
    from datasets import Dataset
    stream, texts = [], list(texts)
    for i in range(0, len(texts), 64):  # tokenise in chunks; stop once there is enough
        for ids in tokenizer(texts[i:i + 64], add_special_tokens=False)["input_ids"]:
            stream += ids + [tokenizer.eos_token_id]
        if n_blocks is not None and len(stream) >= n_blocks * block_size:
            break
    n = len(stream) // block_size if n_blocks is None else min(n_blocks, len(stream) // block_size)
    blocks = [stream[j * block_size:(j + 1) * block_size] for j in range(n)]  # n x (block_size,)
    return Dataset.from_dict({"input_ids": blocks, "labels": [list(b) for b in blocks]})


@torch.no_grad()
def block_losses(model, blocks, batch_size: int = 8) -> np.ndarray:
    """Mean next-token loss (nats) of each block: (N,). blocks: a Dataset with input_ids of one length."""
    model.eval()
    ids = torch.tensor(blocks["input_ids"], device=model_device(model))  # (N, T)
    out = []
    with autocast(model):
        for batch in ids.split(batch_size):
            logits = model(input_ids=batch).logits.float()  # (B, T, V)
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), batch[:, 1:], reduction="none")  # (B, T-1)
            out.append(nll.mean(1))
    return torch.cat(out).cpu().numpy()


def news_loss(model, tokenizer, block_size: int, n_blocks: int) -> float:
    """Mean next-token loss (nats) on n_blocks held-out general-news blocks: what a change costs off its task."""
    from ..engine.loaders import load_dataset
    news = pack_blocks(load_dataset("news_articles")["validation"]["text"], tokenizer, block_size, n_blocks)
    return float(block_losses(model, news).mean())
