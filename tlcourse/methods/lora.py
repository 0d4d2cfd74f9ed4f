"""LoRA with peft: small low-rank adapters beside frozen weights, saved on their own, merged later.

    model = add_lora(tlcourse.load_model("minilm-l6", task="classification", num_labels=2), r=8)
    model = add_lora(base, r=8, target_modules=ALL_LINEAR)   # every Linear layer of every block
    size = save_adapter(model, "runs/lora")      # MB on disk: the adapter alone
    model = load_adapter(base, "runs/lora")      # the base with those adapters again
    plain = merge(model)                         # a normal model again, no extra latency
"""
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..engine.device import mixed_precision, model_device

TARGETS = {  # model_type -> attention projections LoRA adapts by default (as in the LoRA paper)
    "bert": ["query", "value"],
    "llama": ["q_proj", "v_proj"],
}
HEADS = ["classifier", "score"]  # new task heads: trained fully, saved with the adapter
OUTPUTS = HEADS + ["lm_head"]  # output layers: never adapted
ALL_LINEAR = "all-linear"  # target_modules value: every Linear layer but the output (TRL's and peft's name)
# Adapter dropout for the LLM fine-tunes: none. With 0.1 a SmolLM2 LoRA step took ~1.5x as long on a
# 2-core CPU (`tlcourse bench llm`); these runs keep their best validation epoch against overfitting.
LLM_DROPOUT = 0.0


def linear_names(model) -> list[str]:
    """The distinct short names of Linear layers a learner could target."""
    return sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                   if isinstance(m, nn.Linear)})


def lora_config(model, r: int = 8, alpha: int | None = None, dropout: float = 0.1,
                target_modules: list[str] | None = None, task: str | None = None):
    """A peft LoraConfig checked against the model: unknown target modules fail with the names."""
    from peft import LoraConfig, TaskType
    available = linear_names(model)
    if target_modules == ALL_LINEAR:  # by name: on the course's classifier peft's own would adapt the new head
        target_modules = [name for name in available if name not in OUTPUTS]
    targets = target_modules or TARGETS.get(model.config.model_type)
    if not targets:
        raise ValueError(f"no default LoRA targets for {model.config.model_type!r}; pass "
                         f"target_modules=[...] from {available}")
    missing = sorted(set(targets) - set(available))
    if missing:
        raise ValueError(f"LoRA target modules {missing} are not in {type(model).__name__}; "
                         f"its Linear layers are {available}")
    if r < 1:
        raise ValueError(f"LoRA rank r must be at least 1, got {r}")
    task = task or ("causal-lm" if hasattr(model, "lm_head") else "classification")
    kind = {"classification": TaskType.SEQ_CLS, "causal-lm": TaskType.CAUSAL_LM}[task]
    if not hasattr(model, "save_pretrained"):
        kind = None  # the course's own modules (MeanPoolClassifier): peft's generic wrapper
    heads = [h for h in HEADS if h in available] if task == "classification" else None
    return LoraConfig(task_type=kind, r=r, lora_alpha=alpha or 2 * r, lora_dropout=dropout,
                      target_modules=targets, modules_to_save=heads)


def add_lora(model, **kwargs):
    """Wrap `model` in a peft model whose only trainable weights are the adapters (and head).

    A causal LM's frozen weights are stored in bf16 where the course computes in bf16 (autocast
    would cast them to bf16 at every forward anyway); the adapters stay fp32."""
    from peft import get_peft_model
    model = get_peft_model(model, lora_config(model, **kwargs))
    if hasattr(model.get_base_model(), "lm_head") and mixed_precision("auto", model_device(model).type) == "bf16":
        for p in model.parameters():
            if not p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
        model.get_output_embeddings().register_forward_pre_hook(_contiguous_input)
    return model


def _contiguous_input(module, args):
    """generate() feeds the LM head the last position of each row, a strided view (B, 1, d). For a
    strided bf16 input and a frozen weight, torch's CPU matmul expands the weight to (B, d, vocab):
    7 GB and 14 s for 128 rows of SmolLM2 (torch 2.13). A contiguous copy costs B·d numbers."""
    return (args[0].contiguous(),) + args[1:]


def save_adapter(model, folder) -> float:
    """Save the adapter alone (safetensors); returns its size in MB."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def load_adapter(model, folder, trainable: bool = False):
    """`model` wrapped in the adapters saved at `folder` (save_adapter)."""
    from peft import PeftModel
    return PeftModel.from_pretrained(model, folder, is_trainable=trainable)


def merge(model):
    """Fold the adapters into the base weights (W + BA) and return the plain model."""
    return model.merge_and_unload()


@contextmanager
def merged(model):
    """LoRA adapters folded into the weights for the duration (one matmul per layer, not three:
    faster sampling), then taken out again, so the adapters can still be switched off. The base
    weights are put back from a copy: subtracting the adapters again would leave rounding errors
    in them (in bf16, up to a unit in the last place per merge), and a model merged at every step
    would drift from its reference."""
    if not hasattr(model, "merge_adapter"):
        yield model
        return
    bases = [layer.get_base_layer() for layer in model.modules() if hasattr(layer, "merged_adapters")]
    saved = [base.weight.detach().clone() for base in bases]
    model.merge_adapter()
    try:
        yield model
    finally:
        model.unmerge_adapter()
        with torch.no_grad():
            for base, weight in zip(bases, saved):
                base.weight.copy_(weight)
