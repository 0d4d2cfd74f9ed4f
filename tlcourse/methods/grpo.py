"""GRPO's objective written out (Shao et al. 2024), as TRL's GRPOTrainer computes it with loss_type="grpo"
and one optimisation pass per sampled batch (tests/lessons/test_verifiable_rewards.py checks the loss
against TRL's on one batch):

    ids, mask, completion_mask = pack(prompt_ids, completions, pad_id)
    logps = token_logps(model, ids, mask, completion_mask.size(1))          # (N, C)
    loss = grpo_loss(logps, advantages, completion_mask, ref_logps, beta)

Per completion token t of completion i (advantage A_i, ratio r = π/π_old, π_old = π before this step):
    loss_it = -min(r A_i, clip(r, 1 - ε, 1 + ε) A_i) + β r (π_ref/π - log(π_ref/π) - 1)
averaged over each completion's tokens, then over completions. With one pass per batch r = 1 in value,
so the clip never binds and the gradient is A_i ∇log π: a correct answer in a group of mostly wrong
ones is made more likely, a wrong one less. The β term (Schulman's k3 estimate of KL(π ‖ π_ref), times r
so that its gradient is the unbiased one, TRL's default since DeepSeek-V3.2) pulls the model back toward
where it started.
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


def token_logps(model, input_ids, attention_mask, completion_length: int):
    """log π of each completion token given what precedes it: (N, C) for the last C = completion_length
    positions. Only those positions go through the LM head (logits_to_keep), as in TRL."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False,
                   logits_to_keep=completion_length + 1).logits[:, :-1]  # (N, C, V): next-token logits
    targets = input_ids[:, -completion_length:]  # (N, C)
    return logits.float().log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def grpo_loss(logps, advantages, completion_mask, ref_logps=None, beta: float = 0.0):
    """The GRPO loss of one batch. logps, ref_logps, completion_mask: (N, C); advantages: (N,)."""
    ratio = torch.exp(logps - logps.detach())  # (N, C): 1 in value, ∇log π in gradient
    a = advantages.unsqueeze(1)  # (N, 1)
    per_token = -torch.min(ratio * a, ratio.clamp(1 - EPSILON, 1 + EPSILON) * a)
    if beta:
        gap = ref_logps - logps
        per_token = per_token + beta * (torch.exp(gap) - gap - 1) * ratio
    mask = completion_mask.to(per_token.dtype)
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


def mean_token_kl(logps, ref_logps, completion_mask) -> float:
    """The k3 estimate of KL(π ‖ π_ref) per completion token, averaged as TRL logs it (nats per token)."""
    gap, mask = ref_logps - logps, completion_mask.to(logps.dtype)
    return float(((torch.exp(gap) - gap - 1) * mask).sum() / mask.sum().clamp(min=1.0))
