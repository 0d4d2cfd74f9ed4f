"""tlcourse: the code behind the course on transfer learning vs fine-tuning of LLMs.

Imports stay light here (a notebook starts in a second); heavy libraries load on first use.
"""
from importlib import import_module

__version__ = "0.1.0"

_MODULES = {  # module -> the public names it defines, imported on first access
    "config": ["get_profile", "profile_name", "PROFILES"],
    "loaders": ["load_model", "load_tokenizer", "load_dataset", "prefetch", "MODELS"],
    "corpora": ["DATASETS"],
    "device": ["pick_device", "seed_everything", "memory_report", "describe_precision"],
    "infer": ["to_device"],
    "doctor": ["doctor"],
    "tokens": ["show_tokens", "compare_tokenizers", "pieces"],
    "lm": ["next_token_table", "perplexity", "shuffle_words", "sample", "pack_blocks"],
    "pretrain": ["TinyGPTConfig", "tiny_gpt", "train_tiny_gpt", "side_by_side"],
    "train": ["fit", "TrainConfig", "evaluate"],
    "experiments": ["Experiment", "run", "run_grid"],
    "forgetting": ["other_task_accuracy", "forgetting_table"],
    "generation": ["StyleConfig", "finetune_style"],
    "plots": ["method_bars", "memory_breakdown", "train_eval_curves", "rank_sweep",
            "layer_probe_curve", "accuracy_vs_params", "lr_curves", "layer_learning_rates",
            "accuracy_vs_speed", "soft_vs_hard", "group_score_bars"],
    "features": ["train_head"],
    "distill": ["train_classifier", "text_batches", "target_stats"],
    "sft": ["messages", "encode_chat", "encode_pairs", "learned_tokens", "train_sft"],
    "translate": ["corpus_scores", "translation_pairs", "translate_sizes"],
    "translation_runs": ["run_prompting", "run_sft", "run_domain", "translation_table", "domain_table",
            "cost_table"],
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
