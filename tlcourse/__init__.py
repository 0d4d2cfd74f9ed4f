"""tlcourse: the code behind the course on transfer learning vs fine-tuning of LLMs.

Imports stay light here (a notebook starts in a second); heavy libraries load on first use.
"""
from importlib import import_module

from .engine import reads

__version__ = "0.1.0"
reads.start()  # only under `tlcourse run`: logs the result files a lesson reads

_MODULES = {  # module -> the public names it defines, imported on first access
    "engine.config": ["get_profile", "profile_name", "PROFILES"],
    "engine.loaders": ["load_model", "load_tokenizer", "load_dataset", "prefetch", "MODELS"],
    "engine.corpora": ["DATASETS"],
    "engine.device": ["pick_device", "seed_everything", "memory_report", "describe_precision"],
    "engine.infer": ["to_device"],
    "tools.doctor": ["doctor"],
    "methods.tokens": ["show_tokens", "compare_tokenizers", "pieces"],
    "methods.lm": ["next_token_table", "perplexity", "shuffle_words", "sample", "pack_blocks"],
    "methods.pretrain": ["TinyGPTConfig", "tiny_gpt", "train_tiny_gpt", "side_by_side"],
    "engine.train": ["fit", "TrainConfig", "evaluate"],
    "lessons.method_grid": ["Experiment", "run_grid", "train_classifier"],
    "methods.forgetting": ["other_task_correct"],
    "methods.generation": ["StyleConfig", "finetune_style"],
    "report.plots": ["method_bars", "memory_breakdown", "train_eval_curves", "rank_sweep",
            "layer_probe_curve", "accuracy_vs_params", "lr_curves", "layer_learning_rates",
            "accuracy_vs_speed", "soft_vs_hard", "group_score_bars"],
    "report.claims": ["verdict", "verdicts", "claims_table"],
    "report.tables": ["forgetting_table", "lesson_time"],
    "methods.features": ["train_head"],
    "methods.distill": ["text_batches", "target_stats"],
    "methods.sft": ["messages", "encode_chat", "encode_pairs", "learned_tokens", "fit_sft"],
    "methods.translate": ["corpus_scores", "translation_pairs", "translate_sizes"],
    "lessons.translation_sft": ["run_prompting", "run_sft", "run_domain", "translation_table", "domain_table",
            "cost_table"],
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'tlcourse' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
