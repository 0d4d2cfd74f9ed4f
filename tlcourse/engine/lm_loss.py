"""A causal LM's training loss with its output layer applied only where the loss is taken.

A causal LM's forward computes logits for every position, (B, T, V) with V = 49,152 for SmolLM2,
and its loss then ignores the positions labelled -100 (the prompt, when the loss is on the answer
only; padding). `labelled_loss` runs the decoder, keeps the hidden states of the positions whose
next token is a target, and applies the output layer and cross-entropy to those alone: the same
loss and gradients (tests/engine/test_lm_loss.py), less work. `tlcourse bench llm` measures the gain,
and that of `adapters_uncast`.
"""
from contextlib import contextmanager

import torch
import torch.nn.functional as F

IGNORE = -100  # the label cross-entropy skips
PLAIN_HEAD = ("llama", "qwen2", "mistral")  # model types whose logits are lm_head(last hidden state), nothing more


def plain_causal_lm(model):
    """The transformers causal LM inside `model` (a peft wrapper is looked through) when its logits are
    lm_head(decoder(inputs)); None otherwise."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEAD or not hasattr(base, "lm_head"):
        return None
    return base


def labelled_loss(model, batch: dict) -> torch.Tensor | None:
    """Mean cross-entropy over the labelled next tokens of `batch` (input_ids, attention_mask,
    labels, each (B, T)), as `model(**batch).loss` computes it; None where that shortcut does not
    apply (not a plain causal LM, or labels that are not per token)."""
    base, labels = plain_causal_lm(model), batch.get("labels")
    if base is None or labels is None or labels.dim() != 2 or set(batch) - {"input_ids", "attention_mask", "labels"}:
        return None
    targets = labels[:, 1:]  # (B, T-1): position t predicts token t + 1
    keep = targets != IGNORE  # (B, T-1)
    hidden = base.base_model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).last_hidden_state
    logits = base.lm_head(hidden[:, :-1][keep])  # (N, V), N = labelled tokens in the batch
    return F.cross_entropy(logits.float(), targets[keep])


@contextmanager
def adapters_uncast(model, active: bool = True):
    """Inside autocast: LoRA layers pass their input to the adapters as it comes (bf16) instead of
    casting it to the adapters' fp32 first, only for autocast to cast it back (peft's
    disable_input_dtype_casting). Outside autocast a bf16 input would not meet fp32 adapters."""
    if not active or not hasattr(model, "peft_config"):
        yield
        return
    from peft.helpers import disable_input_dtype_casting
    with disable_input_dtype_casting(model):
        yield
