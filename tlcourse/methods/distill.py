"""Knowledge distillation: a small student learns from a teacher's soft targets (Hinton et al., 2015).

    student = shrink(teacher, keep=[0, 2, 4])           # DistilBERT-style: every other block
    model = Distiller(student, teacher, temperature=2.0, alpha=0.5)
    fit(model, train, ...)                               # the ordinary loop trains the student
"""
import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.device import autocast
from ..engine.infer import to_device
from ..engine.models import mean_pool
from .freezing import blocks


def distill_loss(student_logits, teacher_logits, labels, temperature: float = 2.0,
                 alpha: float = 0.5):
    """alpha * T² * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels).

    Logits (B, K). T² keeps the soft-target gradients the same size as T changes.
    """
    soft = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                    F.log_softmax(teacher_logits / temperature, dim=-1),
                    log_target=True, reduction="batchmean") * temperature ** 2
    hard = F.cross_entropy(student_logits, labels)
    return alpha * soft + (1 - alpha) * hard


@dataclass
class DistillOutput:
    loss: torch.Tensor  # the distillation loss, scalar
    logits: torch.Tensor  # the student's logits (B, K)


class Distiller(nn.Module):
    """Student + frozen teacher in one module, so the ordinary training loop trains the student."""

    def __init__(self, student, teacher, temperature: float = 2.0, alpha: float = 0.5):
        super().__init__()
        self.student, self.teacher = student, teacher.eval().requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    def forward(self, labels=None, **batch):
        logits = self.student(**batch).logits  # (B, K)
        if labels is None:
            return DistillOutput(loss=None, logits=logits)
        with torch.no_grad():
            teacher_logits = self.teacher(**batch).logits  # (B, K)
        loss = distill_loss(logits, teacher_logits, labels, self.temperature, self.alpha)
        return DistillOutput(loss=loss, logits=logits)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # no dropout in the teacher, ever
        return self


def shrink(teacher, keep: list[int]):
    """A student that keeps only the teacher's blocks `keep` (weights copied, as DistilBERT did)."""
    student = copy.deepcopy(teacher).requires_grad_(True)  # trainable even if the teacher was frozen
    layers = blocks(student)
    kept = nn.ModuleList(layers[i] for i in keep)
    layers._modules.clear()
    layers.extend(kept)
    student.config.num_hidden_layers = len(keep)
    return student


@dataclass
class BagOfWordsOutput:
    loss: torch.Tensor | None  # cross-entropy when labels are given
    logits: torch.Tensor  # (B, K)


class BagOfWords(nn.Module):
    """The tiny non-transformer student: averaged token embeddings -> linear. No word order."""

    def __init__(self, vocab_size: int, num_labels: int, dim: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.out = nn.Linear(dim, num_labels)

    def forward(self, input_ids, attention_mask, labels=None, **_):
        pooled = mean_pool(self.embed(input_ids), attention_mask)  # (B, T, C) -> (B, C)
        logits = self.out(pooled)  # (B, K)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return BagOfWordsOutput(loss=loss, logits=logits)


def inference_speed(model, batches, repeats: int = 3) -> float:
    """Examples per second of a forward pass over `batches` (lists of tokenised dicts), best of n.

    The batches are moved to the model's device first, so only the forward passes are timed."""
    model.eval()
    batches = [to_device(b, model) for b in batches]
    best = float("inf")
    with torch.inference_mode(), autocast(model):
        model(**batches[0])  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for batch in batches:
                model(**batch)
            _synchronize(batch["input_ids"].device)
            best = min(best, time.perf_counter() - start)
    return sum(len(b["input_ids"]) for b in batches) / best


def _synchronize(device):
    """Wait for queued GPU work, so a timer measures it (a CPU runs each call to its end)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def text_batches(tokenizer, texts, batch_size: int = 32, max_length: int = 64) -> list[dict]:
    """Tokenised, padded CPU batches of `texts` for inference_speed: [{input_ids: (B, T), ...}]."""
    return [dict(tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=max_length,
                           padding=True, return_tensors="pt"))
            for i in range(0, len(texts), batch_size)]






def target_stats(probs: torch.Tensor, target: int, k: int = 10) -> dict:
    """What a soft target (V,) carries beyond the one-hot hard target at index `target`."""
    entropy = abs((probs * probs.clamp_min(1e-12).log2()).sum().item())  # bits; a one-hot has 0
    return {"entropy_bits": entropy,
            "p_target": probs[target].item(),
            "target_rank": int((probs > probs[target]).sum().item()) + 1,
            f"top{k}_mass": probs.topk(k).values.sum().item(),
            "tokens_above_1pct": int((probs > 0.01).sum().item())}
