"""Partial fine-tuning: choose which parameters learn, and how fast.

    freeze(model, train_blocks=2)            # head + last two transformer blocks learn
    bitfit(model)                            # head + every bias learn (Ben Zaken et al., 2022)
    groups = discriminative_groups(model, lr=1e-4, decay=2.6)   # ULMFiT: lower blocks learn slower
Every group builder here decays matrices only, never biases and norms (`decays`).
Works for any transformers model whose backbone keeps its blocks in one ModuleList
(BERT's encoder.layer, Llama's layers, ...): the head is whatever is outside the backbone.
"""
from torch import nn

from ..engine.params import decays


def blocks(model) -> nn.ModuleList:
    """The backbone's transformer blocks, bottom to top."""
    lists = [m for _, m in model.base_model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no list of transformer blocks to freeze")
    return max(lists, key=len)


def head_parameters(model) -> list:
    """Parameters outside the backbone: the task head (e.g. BERT's `classifier`, Llama's `score`)."""
    inside = {id(p) for p in model.base_model.parameters()}
    return [p for p in model.parameters() if id(p) not in inside]


def freeze(model, train_blocks: int = 0, train_embeddings: bool = False):
    """Freeze the backbone except its top `train_blocks` blocks; the head always trains."""
    for p in model.parameters():
        p.requires_grad = False
    for p in head_parameters(model):
        p.requires_grad = True
    layers = blocks(model)
    for block in layers[len(layers) - train_blocks:] if train_blocks else []:
        for p in block.parameters():
            p.requires_grad = True
    if train_embeddings:
        for p in model.get_input_embeddings().parameters():
            p.requires_grad = True
    return model


def bitfit(model):
    """Only biases and the head learn: about 0.1% of an encoder's parameters."""
    for name, p in model.named_parameters():
        p.requires_grad = name.endswith("bias")
    for p in head_parameters(model):
        p.requires_grad = True
    return model






def discriminative_groups(model, lr: float, decay: float = 2.6, head_lr: float | None = None,
                          weight_decay: float = 0.01) -> list:
    """AdamW groups: the top block at `lr`, each block below `decay` times slower (ULMFiT's 2.6).

    The head learns at `head_lr` (default `lr`); embeddings and the rest of the backbone at the
    slowest rate. Frozen parameters are left out; biases and norms get no weight decay.
    """
    layers = blocks(model)
    rates = {id(p): lr / decay ** (len(layers) - 1 - i) for i, b in enumerate(layers)
             for p in b.parameters()}
    rates |= {id(p): head_lr or lr for p in head_parameters(model)}
    slowest = lr / decay ** len(layers)
    return _rate_groups(model, lambda p: rates.get(id(p), slowest), weight_decay)


def two_rate_groups(model, lr: float, head_lr: float, weight_decay: float = 0.01) -> list:
    """The new head at `head_lr`, every other trainable (pretrained) weight at `lr`."""
    head = {id(p) for p in head_parameters(model)}
    return _rate_groups(model, lambda p: head_lr if id(p) in head else lr, weight_decay)


def _rate_groups(model, rate_of, weight_decay: float) -> list:
    """AdamW groups of the trainable parameters at learning rate rate_of(p): one per (rate, weight
    decay) pair, in the order the pairs first appear; only matrices decay (`decays`)."""
    groups = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((rate_of(p), weight_decay if decays(p) else 0.0), []).append(p)
    return [{"params": ps, "lr": rate, "weight_decay": wd} for (rate, wd), ps in groups.items()]




def unfreezing_stages(model, stages: int) -> list[int]:
    """ULMFiT's gradual unfreezing: blocks trained in each stage, e.g. [0, 1, 2, ..., all]."""
    n = len(blocks(model))
    return [min(n, round(i * n / max(stages - 1, 1))) for i in range(stages)]
