"""tlcourse: the code behind the course on transfer learning vs fine-tuning of LLMs.

Imports stay light here (a notebook starts in a second); heavy libraries load on first use.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {  # name -> module that defines it, imported on first access
    "get_profile": "config", "profile_name": "config", "PROFILES": "config",
    "load_model": "loaders", "load_tokenizer": "loaders", "load_dataset": "loaders",
    "prefetch": "loaders", "MODELS": "loaders", "DATASETS": "corpora",
    "pick_device": "device", "seed_everything": "device", "memory_report": "device",
    "doctor": "doctor",
    "show_tokens": "tokens", "compare_tokenizers": "tokens", "pieces": "tokens",
    "next_token_table": "lm", "perplexity": "lm", "shuffle_words": "lm", "sample": "lm",
    "pack_blocks": "lm",
    "TinyGPTConfig": "pretrain", "tiny_gpt": "pretrain", "pretrain": "pretrain",
    "side_by_side": "pretrain",
    "check_chars_per_token": "checks", "check_next_token": "checks",
    "check_perplexity": "checks", "check_blocks": "checks",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
