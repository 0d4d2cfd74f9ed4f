"""GRPO's objective written out (Shao et al. 2024), as TRL's GRPOTrainer computes it with one optimisation
pass per sampled batch (tests/methods/test_grpo.py checks each loss type against TRL's on one batch):

    ids, mask, completion_mask = pack(prompt_ids, completions, pad_id)
    logps = token_logps(model, ids, mask, completion_mask.size(1))          # (N, C)
    loss = grpo_loss(logps, advantages, completion_mask, ref_logps, beta, loss_type="dr_grpo", max_tokens=16)

Per completion token t of completion i (advantage A_i, ratio r = π/π_old, π_old = π before this step):
    loss_it = -min(r A_i, clip(r, 1 - ε, 1 + ε) A_i) + β r (π_ref/π - log(π_ref/π) - 1)
averaged over each completion's tokens, then over completions. With one pass per batch r = 1 in value,
so the clip never binds and the gradient is A_i ∇log π: a correct answer in a group of mostly wrong
ones is made more likely, a wrong one less. The β term (Schulman's k3 estimate of KL(π ‖ π_ref), times r
so that its gradient is the unbiased one, TRL's default since DeepSeek-V3.2) pulls the model back toward
where it started.

loss_type says how the token losses are averaged (TRL's names): "grpo" averages each completion's tokens,
then the completions, so a token of a short answer weighs more than one of a long answer (the length bias
Liu et al. 2025 point out); "dr_grpo" divides the sum by completions x the token limit; "dapo" (TRL's
default) by the tokens of the step. rejection_loss is supervised fine-tuning on the right completions
only: online rejection sampling when they are sampled each step, offline (RFT) when drawn once.
"""
import torch

EPSILON = 0.2  # the ratio's clip range, TRL's default


def pack(prompt_ids, completions, pad: int) -> tuple:
    """Prompts (token ids) padded on the left, each followed by its completions padded on the right:
    (input_ids (N, P + C), attention_mask (N, P + C), completion_mask (N, C)), N = every completion,
    in order, each after its own prompt. completions: [completion ids] per prompt."""
    rows = [(p, c) for p, group in zip(prompt_ids, completions) for c in group]
    width, length = max(len(p) for p, _ in rows), max(max(len(c) for _, c in rows), 1)
    ids = [[pad] * (width - len(p)) + p + c + [pad] * (length - len(c)) for p, c in rows]
    mask = [[0] * (width - len(p)) + [1] * (len(p) + len(c)) + [0] * (length - len(c)) for p, c in rows]
    completion = [[1] * len(c) + [0] * (length - len(c)) for _, c in rows]
    return torch.tensor(ids), torch.tensor(mask), torch.tensor(completion)


LOSS_TYPES = ("grpo", "dr_grpo", "dapo")


def token_logps(model, input_ids, attention_mask, completion_length: int, group: int = 1):
    """log π of each completion token given what precedes it: (N, C) for the last C = completion_length
    positions. Only those positions go through the LM head (logits_to_keep), as in TRL. group > 1: rows
    come in runs of `group` completions of one prompt (as pack lays them out); each prompt is run once and
    its keys and values serve its whole group (the same numbers as one pass over every row, less work)."""
    if group == 1:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                       logits_to_keep=completion_length + 1).logits[:, :-1]  # (N, C, V): next-token logits
    else:
        logits = _shared_prompt_logits(model, input_ids, attention_mask, completion_length, group)
    targets = input_ids[:, -completion_length:]  # (N, C)
    return logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def _shared_prompt_logits(model, input_ids, attention_mask, completion_length: int, group: int):
    width = input_ids.size(1) - completion_length
    prompt = model(input_ids=input_ids[::group, :width], attention_mask=attention_mask[::group, :width],
                   use_cache=True, logits_to_keep=1)  # (N / group, 1, V): each prompt's next-token logits
    prompt.cache.batch_repeat_interleave(group)
    rest = model(input_ids=input_ids[:, width:-1], attention_mask=attention_mask[:, :-1], cache=prompt.cache,
                 use_cache=True).logits  # (N, C - 1, V)
    return torch.cat([prompt.logits.repeat_interleave(group, 0), rest], 1)  # (N, C, V)


def grpo_loss(logps, advantages, completion_mask, ref_logps=None, beta: float = 0.0, loss_type: str = "grpo",
              rows: int | None = None, tokens: float | None = None, max_tokens: int | None = None):
    """The GRPO loss of one batch, or of one micro-batch's share of a step: rows (completions) and tokens
    (completion tokens) of the whole step, default this batch's; max_tokens: the completion token limit
    (dr_grpo). logps, ref_logps, completion_mask: (N, C); advantages: (N,)."""
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}: use one of {', '.join(LOSS_TYPES)}")
    ratio = torch.exp(logps - logps.detach())  # (N, C): 1 in value, ∇log π in gradient
    a = advantages.unsqueeze(1)  # (N, 1)
    per_token = -torch.min(ratio * a, ratio.clamp(1 - EPSILON, 1 + EPSILON) * a)
    if beta:
        gap = ref_logps - logps
        per_token = per_token + beta * (torch.exp(gap) - gap - 1) * ratio
    mask = completion_mask.to(per_token.dtype)
    rows = rows or mask.size(0)
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).sum() / rows
    if loss_type == "dr_grpo":
        return (per_token * mask).sum() / (rows * (max_tokens or mask.size(1)))
    return (per_token * mask).sum() / max(float(tokens or mask.sum()), 1.0)


def rejection_loss(logps, keep, completion_mask, tokens: float | None = None):
    """Supervised loss on the kept completions only: minus the mean log π of their tokens (what a language
    model's cross-entropy on those answers is). keep: (N,) 1 for a right completion; tokens: the kept
    completion tokens of the whole step, default this batch's."""
    mask = completion_mask.to(logps.dtype) * keep.to(logps.dtype).unsqueeze(1)  # (N, C)
    return -(logps * mask).sum() / max(float(tokens or mask.sum()), 1.0)


def mean_token_kl(logps, ref_logps, completion_mask) -> float:
    """The k3 estimate of KL(π ‖ π_ref) per completion token, averaged as TRL logs it (nats per token)."""
    gap, mask = ref_logps - logps, completion_mask.to(logps.dtype)
    return float(((torch.exp(gap) - gap - 1) * mask).sum() / mask.sum().clamp(min=1.0))
