"""tlcourse: the code behind the course on transfer learning vs fine-tuning of LLMs.

Imports stay light here (a notebook starts in a second); heavy libraries load on first use.
"""
from importlib import import_module

from .engine import reads

__version__ = "0.1.0"
reads.start()  # only under `tlcourse run`: logs the result files a lesson reads

_MODULES = {  # module -> the public names the notebooks reach through `tlcourse.`, imported on first access
    "engine.config": ["get_profile", "PROFILES"],
    "engine.loaders": ["load_model", "load_tokenizer", "load_dataset"],
    "engine.corpora": ["DATASETS"],
    "engine.device": ["pick_device", "seed_everything", "describe_precision"],
    "engine.infer": ["to_device"],
    "engine.train": ["fit"],
    "tools.doctor": ["doctor"],
    "methods.tokens": ["show_tokens", "compare_tokenizers"],
    "methods.lm": ["next_token_table", "perplexity", "shuffle_words", "sample", "pack_blocks"],
    "methods.pretrain": ["TinyGPTConfig", "train_tiny_gpt", "side_by_side"],
    "methods.features": ["train_head"],
    "methods.distill": ["text_batches", "target_stats"],
    "methods.forgetting": ["other_task_correct"],
    "methods.generation": ["StyleConfig", "finetune_style"],
    "experiments.method_grid": ["train_classifier"],
    "report.plots": ["method_bars", "memory_breakdown", "train_eval_curves", "rank_sweep", "accuracy_vs_speed",
                     "soft_vs_hard", "group_score_bars"],
    "report.tables": ["forgetting_table", "lesson_time"],
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
