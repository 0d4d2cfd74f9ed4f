"""Task models built on the course's backbones.

MiniLM (all-MiniLM-L6-v2) was trained to be read by mean pooling, not by its [CLS] token, so
the course's encoder classifier mean-pools and puts a linear head on top: the same features
the frozen probe of lesson 03 sees, so every method is compared on equal terms.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .loaders import load_model, resolve_model



def mean_pool(hidden, mask):
    """Average the token vectors of each text, ignoring padding.  (B, T, C), (B, T) -> (B, C)"""
    mask = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


@dataclass
class ClassifierOutput:
    loss: torch.Tensor | None  # cross-entropy when labels are given
    logits: torch.Tensor  # (B, K)


class MeanPoolClassifier(nn.Module):
    """backbone -> mean over real tokens -> dropout -> linear: (B, T) ids -> (B, K) logits."""

    def __init__(self, backbone, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.config = backbone.config  # peft and the loop read model_type, vocab_size from here
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(backbone.config.hidden_size, num_labels)

    @property
    def base_model(self):
        return self.backbone

    def get_input_embeddings(self):
        return self.backbone.get_input_embeddings()

    def forward(self, input_ids, attention_mask, labels=None, token_type_ids=None):
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))  # (B, K)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return ClassifierOutput(loss=loss, logits=logits)


def is_decoder(name: str) -> bool:
    """Whether a model (course name, folder or hub id) reads left to right: its config names a causal LM."""
    from transformers import AutoConfig
    architectures = AutoConfig.from_pretrained(resolve_model(name)).architectures or []
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)


def classifier(name: str, num_labels: int, seed: int = 0):
    """A classifier on a course backbone: mean pooling for encoders, last token for decoders."""
    torch.manual_seed(seed)  # the new head's initial weights
    if is_decoder(name):
        return load_model(name, task="classification", num_labels=num_labels)
    backbone = load_model(name, task="base")
    backbone.pooler = None  # mean pooling replaces BERT's [CLS] pooler
    return MeanPoolClassifier(backbone, num_labels)
