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
    "TinyGPTConfig": "pretrain", "tiny_gpt": "pretrain", "train_tiny_gpt": "pretrain",
    "side_by_side": "pretrain",
    "check_chars_per_token": "checks", "check_next_token": "checks",
    "check_perplexity": "checks", "check_blocks": "checks",
    "other_task_accuracy": "forgetting", "forgetting_table": "forgetting",
    "StyleConfig": "generation", "finetune_style": "generation",
    "method_bars": "plots", "memory_breakdown": "plots", "train_eval_curves": "plots",
    "rank_sweep": "plots",
    "check_training_state_mb": "checks_tuning", "check_best_epoch": "checks_tuning",
    "check_backbone_unchanged": "checks_tuning", "check_lora_params": "checks_tuning",
    "check_merged_weight": "checks_tuning", "check_lora_targets": "checks_tuning",
    "train_head": "features",
    "layer_probe_curve": "plots", "accuracy_vs_params": "plots", "lr_curves": "plots",
    "layer_learning_rates": "plots",
    "check_best_layer": "checks_transfer", "check_concat_last_four": "checks_transfer",
    "check_points_per_million": "checks_transfer", "check_trainable_count": "checks_transfer",
    "check_block_rates": "checks_transfer", "check_bias_share": "checks_transfer",
    "train_classifier": "distill", "train_student": "distill", "text_batches": "distill",
    "target_stats": "distill",
    "accuracy_vs_speed": "plots", "soft_vs_hard": "plots", "group_score_bars": "plots",
    "check_soft_targets": "checks_adapt", "check_student_blocks": "checks_adapt",
    "check_entropy_bits": "checks_adapt", "check_binary_labels": "checks_adapt",
    "check_ppl_drop": "checks_adapt", "check_gap": "checks_adapt",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
