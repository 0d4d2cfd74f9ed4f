"""Quantised weights with bitsandbytes: the same model in bf16, 8-bit (LLM.int8) or 4-bit NF4, what each
costs in memory, and QLoRA (adapters trained beside frozen 4-bit weights).

    model = load_quantised("smollm2-135m", "nf4")   # every Linear of the blocks in 4 bits, computing in bf16
    weights_mb(model)                               # its parameters and buffers, in MB
    model = qlora(model, r=16)                      # trainable fp32 adapters on a frozen 4-bit model

bitsandbytes quantises the Linear layers only: the token embedding (tied to the output layer in
SmolLM2, a fifth of its weights) stays in 16 bits, so a 4-bit SmolLM2 is not a quarter of its
bf16 size. The 8- and 4-bit layers compute in the course's precision (engine.device.mixed_precision): bf16
where the hardware has it, fp32 elsewhere (a CPU without AVX512-BF16 or AMX multiplies bf16 tens of times slower).
"""
import torch

from ..engine.device import mixed_precision, pick_device
from ..engine.loaders import load_model

FORMATS = {  # name -> what the Linear layers store
    "fp32": "32-bit floats (the model as the course computes where bf16 is not native)",
    "bf16": "16-bit brain floats (as the course computes where bf16 is native)",
    "int8": "LLM.int8(): 8-bit integers with one scale per row, outlier features kept in 16 bits",
    "nf4": "4-bit NormalFloat in blocks of 64 weights, one scale per block (QLoRA's format)",
}


def compute_dtype(device: str | None = None) -> torch.dtype:
    """What quantised layers dequantise to and multiply in: the course's precision on `device`."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision(device=pick_device(device)),
                                                                 torch.float32)


def quantisation_config(fmt: str, device: str | None = None):
    """transformers' BitsAndBytesConfig for a format of FORMATS (None for fp32 and bf16: nothing to quantise)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown weight format {fmt!r}; use one of {', '.join(FORMATS)}")
    from transformers import BitsAndBytesConfig
    if fmt == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    if fmt == "nf4":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_compute_dtype=compute_dtype(device))
    return None


def load_quantised(name: str, fmt: str, device: str | None = None, **kwargs):
    """A causal LM (course name, hub id or folder) with its Linear layers in `fmt`; its other weights in fp32 or
    bf16 as `fmt` says, in the course's precision for int8 and nf4 (compute_dtype)."""
    config = quantisation_config(fmt, device)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}.get(fmt) or compute_dtype(device)
    extra = {} if config is None else {"quantization_config": config, "device_map": pick_device(device)}
    model = load_model(name, task="causal-lm", dtype=dtype, **extra, **kwargs)
    return model.eval() if config else model.to(pick_device(device)).eval()


def weights_mb(model) -> float:
    """Parameters and buffers in memory, MB (a 4-bit weight counts half a byte)."""
    return model.get_memory_footprint() / 2**20


def qlora(model, **lora_kwargs):
    """QLoRA: peft's preparation of a quantised model (norms and embedding in fp32, inputs that carry
    gradients to the adapters) and LoRA adapters on it; lora_kwargs as methods.lora.lora_config."""
    from peft import get_peft_model, prepare_model_for_kbit_training
    from .lora import lora_config
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, lora_config(model, **lora_kwargs))
