"""What a training run measures about itself: throughput, memory, model FLOPs utilisation, and
what it shows while it runs (a progress bar; in a notebook, a live loss plot).

    speed = Throughput()
    speed.count(batch)                       # after each batch
    speed.rates(model, device)               # examples/s, tokens/s and MFU over speed.train_time_s
"""
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .device import peak_rss_mb
from .params import count_params

# Dense bf16 tensor-core peaks from the vendors' data sheets, in FLOP/s (T4 has no bf16: fp16).
PEAK_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "T4": 65e12}


@dataclass
class Throughput:
    """What this process trained on, and for how long."""
    examples: int = 0                  # training examples
    tokens: int | torch.Tensor = 0     # non-padding tokens; a tensor on the device once counted (read once, at the end)
    positions: int = 0                 # padded positions: examples x mean padded length gives the attention term
    train_time_s: float = 0.0          # forward, backward and optimizer steps only

    def count(self, batch):
        """Add one batch: input_ids (B, T), attention_mask (B, T) where the batch has one."""
        self.examples += len(batch["input_ids"])
        self.tokens += batch["attention_mask"].sum() if "attention_mask" in batch else batch["input_ids"].numel()
        self.positions += batch["input_ids"].numel()

    def rates(self, model, device, total=lambda x: x):
        """examples_per_s, tokens_per_s and mfu over train_time_s, for all processes together.

        total(tensor): the sum over processes (Accelerate's reduce); one process: the tensor itself."""
        examples, tokens = (total(torch.as_tensor(x, device=device)).item() for x in (self.examples, self.tokens))
        seq_len = self.positions / max(self.examples, 1)  # this process's mean padded length
        return {"examples_per_s": examples / max(self.train_time_s, 1e-9),
                "tokens_per_s": tokens / max(self.train_time_s, 1e-9),
                "mfu": model_flops_utilisation(device, flops_per_token(model, seq_len), tokens, self.train_time_s)}


def peak_memory_mb(device):
    """GPU: peak allocated by torch; CPU: peak resident size of the process so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


def flops_per_token(model, seq_len: float) -> float:
    """Training FLOPs per token: 6 N + 12 L d T (nanoGPT's estimate_mfu, PaLM appendix B), with
    frozen weights counted 4 instead of 6.

    N = parameters outside the embedding matrices (a lookup, not a matmul), plus an output layer
    tied to the embedding (a matmul over the whole vocabulary); 6 = 2 forward + 2 for the input's
    gradient + 2 for the weight's own gradient, which a frozen weight skips (LoRA: 4 per base
    weight, 6 per adapter weight; an overstatement where nothing below a frozen layer trains).
    12 L d T = attention scores and their use over T positions in L layers of width d."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    weights = [p for p in model.parameters() if id(p) not in embeddings]
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and id(head.weight) in embeddings:
        weights.append(head.weight)
    n = sum(p.numel() * (6 if p.requires_grad else 4) for p in weights)
    cfg = getattr(model, "config", None)
    layers, width = getattr(cfg, "num_hidden_layers", 0), getattr(cfg, "hidden_size", 0)
    return n + 12 * layers * width * seq_len


def model_flops_utilisation(device, flops_per_tok, tokens, seconds):
    """Achieved FLOP/s over the GPU's dense bf16 peak; "unknown" off a GPU in PEAK_FLOPS."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
    return flops_per_tok * tokens / seconds / peak if peak and seconds > 0 else "unknown"


def progress_bar(model, total_steps, done_steps, show):
    """A tqdm bar over optimizer steps, titled with how many of the model's weights train."""
    trainable, total = count_params(model)
    return tqdm(total=total_steps, initial=done_steps, unit="step", disable=not show,
                desc=f"training {_millions(trainable)} of {_millions(total)} weights")


def _millions(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e5 else f"{n:,}"


def is_notebook():
    try:
        from IPython import get_ipython

        return get_ipython() is not None and "IPKernelApp" in get_ipython().config
    except ImportError:
        return False


class LivePlot:
    """Training and evaluation loss against step, redrawn in place in a notebook cell."""

    def __init__(self):
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.fig, self.ax = plt.subplots(figsize=(6, 3.5))
        plt.close(self.fig)  # we display it ourselves; stops a second copy appearing at cell end
        self.handle = display(self.fig, display_id=True)

    def update(self, history):
        self.ax.clear()
        for key in ("train_loss", "eval_loss"):
            rows = [(r["step"], r[key]) for r in history if key in r]
            if rows:
                self.ax.plot(*zip(*rows), marker="o" if key == "eval_loss" else None, label=key)
        self.ax.set(xlabel="optimizer step", ylabel="loss")
        self.ax.legend()
        self.handle.update(self.fig)
