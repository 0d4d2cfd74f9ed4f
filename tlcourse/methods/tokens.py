"""Tokenisers compared: the same text cut by WordPiece (MiniLM), SmolLM2's BPE and GPT-2's BPE.

    show_tokens("Tokenisation isn't trivial")        # one row per tokeniser: its pieces
    compare_tokenizers(texts)                         # tokens and chars per token, per text
"""
from functools import lru_cache

import pandas as pd

from ..engine.loaders import load_tokenizer

TOKENIZERS = ("minilm-l6", "smollm2-135m", "gpt2-bpe")  # course names, see loaders.TOKENIZERS


@lru_cache(maxsize=None)
def get_tokenizer(name: str):
    """A course tokenizer by name, loaded once per process."""
    return load_tokenizer(name)


def _resolve(tokenizer):
    return get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text`, without special tokens ([CLS], [SEP], <bos>): the text's own cost."""
    tokenizer = _resolve(tokenizer)
    if hasattr(tokenizer, "encode_ordinary"):  # a tiktoken Encoding
        return tokenizer.encode_ordinary(text)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def pieces(tokenizer, text: str) -> list[str]:
    """The text as the tokeniser sees it, one string per token ("##" marks a WordPiece suffix;
    "�" is part of a character that BPE split across bytes)."""
    tokenizer = _resolve(tokenizer)
    return [tokenizer.decode([i]) for i in encode(tokenizer, text)]


def vocab_size(tokenizer) -> int:
    tokenizer = _resolve(tokenizer)
    return tokenizer.n_vocab if hasattr(tokenizer, "n_vocab") else len(tokenizer)


def show_tokens(text: str, names=TOKENIZERS):
    """One row per tokeniser: how many tokens, and the pieces joined by '|'."""
    rows = [{"tokenizer": n, "vocab": vocab_size(n), "tokens": len(p := pieces(n, text)),
             "pieces": "|".join(p)} for n in names]
    return pd.DataFrame(rows).set_index("tokenizer")


def compare_tokenizers(texts: dict, names=TOKENIZERS):
    """Tokens and characters per token for each {label: text} under each tokeniser (long format)."""
    rows = [{"text": label, "tokenizer": n, "chars": len(text), "tokens": len(ids := encode(n, text)),
             "chars_per_token": len(text) / max(len(ids), 1)}
            for label, text in texts.items() for n in names]
    return pd.DataFrame(rows)
