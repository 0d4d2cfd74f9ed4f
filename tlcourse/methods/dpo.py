"""Direct Preference Optimization (DPO): teach a language model which of two continuations to prefer.

    pairs = preference_pairs(prompt_ids, chosen_ids, rejected_ids)   # TRL's column names
    pairs = with_reference_logps(model, pairs, tokenizer)           # the frozen reference, once
    fit(DPOModel(model, beta=0.1), pairs, val_pairs, cfg, collate_fn=collator(tokenizer))

For a prompt x, a chosen continuation y_w and a rejected one y_l (Rafailov et al. 2023, eq. 7):

    r(y)  = β · (log π(y | x) − log π_ref(y | x))      the implicit reward of a continuation
    loss  = −log σ(r(y_w) − r(y_l))

π is the model being trained, π_ref the model it started from (frozen). The loss is a two-way
cross-entropy whose logits are [r(y_w), r(y_l)] and whose right answer is the first, so the course's
loop trains it like a classifier, and the evaluation's "accuracy" is the share of pairs whose chosen
continuation gets the higher reward. π_ref never changes: its log-probabilities are computed once,
before training (TRL's `precompute_ref_log_probs`), which halves the forward passes of every step.
"""
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.device import autocast, model_device


def dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta: float):
    """The DPO loss of each pair (B,) from four summed log-probabilities per pair, each (B,)."""
    chosen_reward = beta * (chosen_logps - ref_chosen_logps)
    rejected_reward = beta * (rejected_logps - ref_rejected_logps)
    return -F.logsigmoid(chosen_reward - rejected_reward)


def sequence_logps(model, input_ids, attention_mask, completion_mask):
    """log π(completion | prompt) of each row: the completion tokens' log-probabilities summed, (N,).

    input_ids, attention_mask, completion_mask: (N, T); completion_mask is 1 on completion tokens."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits  # (N, T, V)
    token_logps = -F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), input_ids[:, 1:],
                                   reduction="none")  # (N, T-1): token t+1 given tokens up to t
    return (token_logps * completion_mask[:, 1:]).sum(1)


class DPOModel(torch.nn.Module):
    """A causal LM wrapped so that `forward(**batch).loss` is the DPO loss of a batch of pairs.

    A batch is TRL's DataCollatorForPreference's (chosen rows first, then rejected: (2B, T)) plus
    the reference's log-probabilities (B,) and labels (B,), all 0: the chosen continuation."""

    def __init__(self, policy, beta: float = 0.1):
        super().__init__()
        self.policy, self.beta = policy, beta
        self.config = policy.config  # read by the loop's throughput counter (layers, width)

    def forward(self, input_ids, attention_mask, completion_mask, ref_chosen_logps, ref_rejected_logps,
                labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput
        logps = sequence_logps(self.policy, input_ids, attention_mask, completion_mask)  # (2B,)
        chosen, rejected = logps.chunk(2)  # (B,) each
        rewards = self.beta * torch.stack([chosen - ref_chosen_logps, rejected - ref_rejected_logps], 1)  # (B, 2)
        loss = F.cross_entropy(rewards, labels) if labels is not None else None  # = dpo_loss, averaged
        return SequenceClassifierOutput(loss=loss, logits=rewards)


def collator(tokenizer):
    """TRL's preference collator (padding, completion mask), plus the labels the loop evaluates with."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference
    pad = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)

    def collate(examples):
        batch = pad(examples)
        batch["labels"] = torch.zeros(len(examples), dtype=torch.long)  # (B,): the chosen one is right
        return batch
    return collate


def preference_pairs(prompt_ids, chosen_ids, rejected_ids, **columns):
    """A datasets.Dataset of token-id pairs, in TRL's column names; `columns` (texts, scores) ride along."""
    from datasets import Dataset
    return Dataset.from_dict({"prompt_ids": list(prompt_ids), "chosen_ids": list(chosen_ids),
                              "rejected_ids": list(rejected_ids)} | columns)


@torch.no_grad()
def with_reference_logps(model, pairs, tokenizer, batch_size: int = 16):
    """`pairs` with ref_chosen_logps and ref_rejected_logps: log π_ref of each continuation, where
    π_ref is `model` as it is now (a peft model with its adapters switched off)."""
    collate, device, chosen, rejected = collator(tokenizer), model_device(model), [], []
    was_training = model.training
    model.eval()
    off = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
    with off, autocast(model):
        for i in range(0, len(pairs), batch_size):
            batch = collate([pairs[j] for j in range(i, min(i + batch_size, len(pairs)))])
            logps = sequence_logps(model, *(batch[k].to(device) for k in
                                            ("input_ids", "attention_mask", "completion_mask")))
            c, r = logps.float().cpu().chunk(2)
            chosen += c.tolist()
            rejected += r.tolist()
    model.train(was_training)
    return pairs.add_column("ref_chosen_logps", chosen).add_column("ref_rejected_logps", rejected)


@torch.no_grad()
def mean_kl(model, tokenizer, prompt_ids, continuations, batch_size: int = 32) -> float:
    """KL(π ‖ π_ref) estimated on continuations sampled from π: the mean over them of
    log π(y | x) − log π_ref(y | x). π_ref is the model with its adapters off; no adapters: 0."""
    if not hasattr(model, "disable_adapter"):
        return 0.0
    rows = [(p, c) for p, group in zip(prompt_ids, continuations) for c in group]
    pad, device, gaps = tokenizer.pad_token_id, model_device(model), []
    model.eval()
    for i in range(0, len(rows), batch_size):
        chunk = rows[i:i + batch_size]
        width = max(len(p) + len(c) for p, c in chunk)
        ids = torch.tensor([p + c + [pad] * (width - len(p) - len(c)) for p, c in chunk], device=device)  # (B, T)
        mask = torch.tensor([[1] * (len(p) + len(c)) + [0] * (width - len(p) - len(c)) for p, c in chunk],
                            device=device)
        completion = torch.tensor([[0] * len(p) + [1] * len(c) + [0] * (width - len(p) - len(c))
                                   for p, c in chunk], device=device)
        with autocast(model):
            policy = sequence_logps(model, ids, mask, completion)
            with model.disable_adapter():
                reference = sequence_logps(model, ids, mask, completion)
        gaps += (policy - reference).float().cpu().tolist()
    return float(np.mean(gaps))
