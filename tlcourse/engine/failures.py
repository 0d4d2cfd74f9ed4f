"""The two ways a training run fails on a learner's machine, told as what happened and what to try:
the loss diverges (NonFiniteLossError), or a step does not fit in memory (OutOfMemoryError)."""
import torch


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: training diverged."""


class OutOfMemoryError(MemoryError):
    """A step did not fit in memory; the message names the step and smaller settings."""


def check_finite(window_loss, steps, epoch, config):
    """Raise when the summed loss of the last log window is NaN or infinite.

    Checked at log steps only: reading a value on the host waits for an accelerator, once per
    window instead of once per batch. `steps` = (first, last) optimizer step of the window."""
    if not torch.isfinite(torch.as_tensor(window_loss)):
        raise NonFiniteLossError(
            f"The loss became non-finite between optimizer steps {steps[0]} and {steps[1]} (epoch {epoch}): "
            f"training diverged. Try a lower learning rate (lr={config.lr:g}), gradient clipping "
            f"(max_grad_norm={config.max_grad_norm}), a warmup, or fp32/bf16 instead of fp16 "
            f"(mixed_precision={config.mixed_precision!r}).")


def is_out_of_memory(err: RuntimeError) -> bool:
    """torch's OutOfMemoryError (GPUs), or the plain RuntimeError CPU allocators raise when memory runs out."""
    message = str(err).lower()
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in message or "not enough memory" in message


def out_of_memory(step, config):
    """The error a learner sees when a step runs out of memory (nothing trained so far is lost)."""
    saved = (f" The newest checkpoint in {config.checkpoint_dir} holds the run so far: fit(..., "
             "resume=True) continues from it." if config.checkpoint_dir else "")
    return OutOfMemoryError(
        f"Out of memory at optimizer step {step}. Try batch_size={max(1, config.batch_size // 2)} with "
        f"grad_accum={config.grad_accum * 2} (the same effective batch), a shorter max_length, LoRA "
        f"(tlcourse.methods.lora.add_lora), or model.gradient_checkpointing_enable().{saved}")
