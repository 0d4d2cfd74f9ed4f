"""Which attention kernel a causal LM uses on a CPU: eager while it trains, torch's fused one (sdpa)
while it infers.

Fused attention's CPU backward is the slow part of a training step at the course's lengths (tens
of tokens): `tlcourse bench llm` times a SmolLM2 LoRA step with each. Generating with long
few-shot prompts, eager took about 1.4x as long as fused. So `fit` switches the model to eager for
its whole run, its validation included (every loss a rate search compares comes from one kernel),
and generation (which `fit` may call, e.g. to score each epoch) to fused. In bf16 the two kernels'
losses differ by up to about 0.01 nats (eager rounds the attention probabilities to bf16): compare
a loss from inside `fit` with one from inside `fit`.
"""
from contextlib import contextmanager

from .device import model_device
from .lm_loss import plain_causal_lm

CPU_ATTENTION = {"training": "eager", "inference": "sdpa"}  # use -> transformers' attn_implementation


@contextmanager
def cpu_attention(model, use: str):
    """On a CPU, the plain causal LMs inside `model` (lm_loss.plain_causal_lm: the family the bench
    measured) use CPU_ATTENTION[use] for the duration; elsewhere nothing changes."""
    on_cpu = model_device(model).type == "cpu"
    lms = [m for m in model.modules() if plain_causal_lm(m) is m] if on_cpu else []
    before = [lm.config._attn_implementation for lm in lms]
    for lm in lms:
        lm.set_attn_implementation(CPU_ATTENTION[use])
    try:
        yield
    finally:
        for lm, implementation in zip(lms, before):
            lm.set_attn_implementation(implementation)
