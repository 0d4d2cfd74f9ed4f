"""The training loop of the course: `fit` takes a model and tokenised data to a trained model,
a history of losses and metrics, and what the run cost (time, memory, throughput).

Every method in the course (head-only, last-k layers, discriminative learning rates, LoRA,
full fine-tuning, continued pretraining, distillation) trains through this one function; they
differ only in which parameters are trainable and at what learning rate (`param_groups`).

Built on HF Accelerate, so the same code runs on a CPU, one GPU, or several processes
(`accelerate launch script.py`): Accelerate moves batches to the device, shards the data
across processes, averages gradients, and wraps the forward pass in autocast for bf16/fp16.
"""
import math
import os
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm
from transformers import DataCollatorWithPadding, default_data_collator
from transformers.trainer_pt_utils import get_length_grouped_indices

from .checkpoint import checkpoint_size_mb, latest_checkpoint, load_checkpoint, save_checkpoint
from . import quiet  # noqa: F401  (library FutureWarnings off while training)
from .device import autocast, mixed_precision, model_device, peak_rss_mb, pick_device
from .schedules import make_schedule

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "label")
LOWER_IS_BETTER = ("loss", "perplexity")

# Dense bf16 tensor-core peaks from the vendors' data sheets, in FLOP/s (T4 has no bf16: fp16).
PEAK_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "T4": 65e12}


@dataclass
class TrainConfig:
    lr: float = 2e-5                      # peak learning rate; a param group's own "lr" overrides it
    epochs: int = 3                       # passes over the training set
    max_steps: int | None = None          # stop after this many optimizer steps instead (overrides epochs)
    batch_size: int = 16                  # examples per forward pass, per process
    grad_accum: int = 1                   # batches summed per optimizer step; effective batch = batch_size * grad_accum * processes
    max_grad_norm: float | None = 1.0     # clip the global gradient norm to this; None: no clipping
    warmup_ratio: float = 0.06            # share of the steps spent warming up (schedule "linear")
    schedule: str = "linear"              # "linear" (warmup, then linear decay) | "slanted" (ULMFiT) | "constant"
    weight_decay: float = 0.01            # AdamW's decoupled weight decay; never applied to biases and LayerNorm weights
    eval_every: int | None = None         # evaluate every N optimizer steps; None: at the end of each epoch
    eval_batch_size: int = 64             # examples per forward pass when evaluating (no gradients: can be larger)
    early_stopping_patience: int | None = None  # stop after this many evaluations without improvement
    restore_best: bool = True             # end with the weights of the best evaluation (when there was an evaluation set)
    metric: str = "loss"                  # watched for improvement: "loss", "perplexity" (lower is better), "accuracy" (higher)
    group_by_length: bool = True          # batch examples of similar length together: less padding, faster
    mixed_precision: str = "auto"         # "auto": bf16 where the GPU or CPU computes it, fp16 + loss scaling on older GPUs, else fp32
    checkpoint_dir: str | None = None     # where checkpoints go; None: none are written
    checkpoint_every: int | None = None   # save every N optimizer steps; None: each epoch (and always at the end)
    keep_checkpoints: int = 2             # how many of the newest checkpoints stay on disk
    seed: int = 0                         # seeds dropout and shuffling: one seed, one result
    log_every: int = 10                   # add a training-loss row to the history every N optimizer steps
    progress: bool = True                 # show a tqdm progress bar
    live_plot: bool = False               # redraw a loss plot in the notebook as training goes (notebooks only)

    def __post_init__(self):
        checks = {"lr": self.lr >= 0, "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
                  "grad_accum": self.grad_accum >= 1, "warmup_ratio": 0 <= self.warmup_ratio < 1,
                  "max_steps": self.max_steps is None or self.max_steps >= 1,
                  "schedule": self.schedule in ("linear", "slanted", "constant"),
                  "mixed_precision": self.mixed_precision in ("auto", "no", "bf16", "fp16")}
        bad = [f"{k}={getattr(self, k)!r}" for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"impossible TrainConfig values: {', '.join(bad)}. Learning rates are "
                             "not negative; epochs, batch_size, grad_accum and max_steps at least 1; "
                             "schedule is linear|slanted|constant; mixed_precision auto|no|bf16|fp16")


@dataclass
class TrainResult:
    history: list                  # one dict per log step ("train_loss", "lr", "grad_norm") or evaluation ("eval_…")
    metrics: dict                  # evaluation of the returned weights (the best ones when restored), e.g. {"loss": 0.41, "accuracy": 0.83}
    best_metric: float | None      # best value of config.metric seen during training
    best_step: int | None          # the optimizer step where it was seen
    restored_step: int | None      # the step whose weights the model holds now, when restore_best put them back; else None
    best_epoch: float | None       # best_step in epochs
    steps: int                     # optimizer steps done in total (including before a resume)
    train_loss: float              # mean training loss over the steps of this call
    stopped_early: bool            # early stopping ended the run
    wall_time_s: float             # the whole call: setup, training, evaluation, checkpoints
    train_time_s: float            # forward, backward and optimizer steps only
    examples_per_s: float          # training examples per second of train_time_s (all processes)
    tokens_per_s: float            # non-padding training tokens per second of train_time_s
    peak_memory_mb: float          # GPU: peak allocated by torch; CPU: peak resident size of the process
    trainable_params: int
    total_params: int
    mfu: float | str               # model FLOPs utilisation on a known GPU; "unknown" elsewhere
    precision: str                 # "no" (fp32), "bf16" or "fp16"
    device: str
    distributed: str = "NO"        # Accelerate's distributed type: NO, MULTI_CPU, MULTI_GPU, FSDP, ...
    processes: int = 1             # processes that trained together
    checkpoint: str | None = None  # the last checkpoint written
    checkpoint_size_mb: float | None = None

    def frame(self):
        """The history as a pandas DataFrame: one row per log step or evaluation."""
        import pandas as pd

        return pd.DataFrame(self.history)

    def summary(self):
        """Everything but the history: the figures that go into a result JSON."""
        return {k: v for k, v in asdict(self).items() if k != "history"}


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: training diverged."""


class OutOfMemoryError(MemoryError):
    """A step did not fit in memory; the message names the step and smaller settings."""


def out_of_memory(step, config):
    """The error a learner sees when a step runs out of memory (nothing trained so far is lost)."""
    saved = (f" The newest checkpoint in {config.checkpoint_dir} holds the run so far: fit(..., "
             "resume=True) continues from it." if config.checkpoint_dir else "")
    return OutOfMemoryError(
        f"Out of memory at optimizer step {step}. Try batch_size={max(1, config.batch_size // 2)} with "
        f"grad_accum={config.grad_accum * 2} (the same effective batch), a shorter max_length, LoRA "
        f"(tlcourse.lora.add_lora), or model.gradient_checkpointing_enable().{saved}")


@dataclass
class _Position:
    """Where the loop is; saved in each checkpoint so a resumed run continues exactly."""
    step: int = 0                  # optimizer steps done
    epoch: int = 0                 # current epoch
    batch: int = 0                 # batches of the current epoch already consumed
    history: list = field(default_factory=list)
    best: float | None = None      # best config.metric so far
    best_step: int | None = None
    bad_evals: int = 0             # evaluations since the last improvement
    stopped_early: bool = False
    metrics: dict | None = None    # the latest evaluation...
    metrics_step: int | None = None  # ...and the step it was made at
    best_metrics: dict | None = None  # the evaluation at best_step


class SeededSampler(Sampler):
    """Shuffles with a generator seeded by (seed, epoch), so epoch e's order can be rebuilt exactly
    on resume. With `lengths`, each run of `batch_size` indices holds examples of similar length
    (transformers' length grouping: sorted inside random mega-batches of up to 50 batches), so batches
    need little padding."""

    def __init__(self, n, seed, lengths=None, batch_size=1):
        self.n, self.seed, self.lengths, self.batch_size, self.epoch = n, seed, lengths, batch_size, 0

    def set_epoch(self, epoch):  # Accelerate's DataLoaderShard calls this before each pass
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.lengths is None:
            return iter(torch.randperm(self.n, generator=g).tolist())
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=g))


def make_loader(dataset, batch_size, collate_fn, seed=None, group_by_length=False, group_size=None):
    """A DataLoader; shuffled by a SeededSampler when `seed` is given (training), in order otherwise.

    group_size: examples per length group (default batch_size); fit passes batch_size x grad_accum x
    processes, so the examples of one optimizer step are grouped together whatever the split into
    micro-batches (halving the batch and doubling grad_accum keeps the data order).
    Its own generator keeps DataLoader from drawing on torch's global RNG (which dropout uses)."""
    if hasattr(dataset, "select_columns"):  # a datasets.Dataset: drop text and other non-tensor columns
        dataset = dataset.select_columns([c for c in MODEL_INPUTS if c in dataset.column_names])
    sampler = None
    if seed is not None:
        lengths = _lengths(dataset) if group_by_length else None
        sampler = SeededSampler(len(dataset), seed, lengths, group_size or batch_size)
    return DataLoader(dataset, batch_size, sampler=sampler, collate_fn=collate_fn,
                      pin_memory=torch.cuda.is_available(), generator=torch.Generator().manual_seed(seed or 0))


def _lengths(dataset):
    ids = dataset["input_ids"] if hasattr(dataset, "column_names") else (ex["input_ids"] for ex in dataset)
    return [len(x) for x in ids]


def default_param_groups(model, weight_decay):
    """Trainable parameters in two groups: matrices get weight decay, biases and norms (1-d) do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def count_params(model):
    """(trainable, total) parameter counts; tied weights are counted once."""
    params = list(model.parameters())  # .parameters() already yields a shared tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def make_accelerator(config):
    from accelerate.utils import DataLoaderConfiguration
    # One Accelerator per fit: forget the previous run's precision (transformers' Trainer does the same).
    AcceleratorState._reset_state()
    device = "cpu" if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") else pick_device()
    return Accelerator(mixed_precision=mixed_precision(config.mixed_precision, device),
                       gradient_accumulation_steps=config.grad_accum,
                       dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()))


@torch.no_grad()
def evaluate_loader(model, loader, gather=lambda x: x, compute_metrics=None):
    """Loss and accuracy (classification) or loss and perplexity (causal LM) over a DataLoader.

    `gather` collects per-example values from all processes (Accelerate's gather_for_metrics)."""
    was_training, device = model.training, model_device(model)
    model.eval()
    losses, counts, preds, labels = [], [], [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        y = batch.pop("labels")  # so the model does not compute a loss we compute per example below
        logits = model(**batch).logits.float()
        if logits.dim() == 2:  # classification: logits (B, C), labels y (B,)
            loss, n = F.cross_entropy(logits, y, reduction="none"), torch.ones_like(y)
            p, y = gather((logits.argmax(-1), y))
            preds.append(p.cpu()), labels.append(y.cpu())
        else:  # causal LM: logits (B, T, V); token t predicts y[t + 1]; -100 marks ignored tokens
            y = y[:, 1:]
            tok = F.cross_entropy(logits[:, :-1].transpose(1, 2), y, reduction="none", ignore_index=-100)  # (B, T-1)
            loss, n = tok.sum(1), (y != -100).sum(1)  # per example: summed loss, tokens counted
        loss, n = gather((loss, n))
        losses.append(loss.sum().item()), counts.append(n.sum().item())
    model.train(was_training)
    out = {"loss": sum(losses) / sum(counts)}
    if preds:
        preds, labels = torch.cat(preds), torch.cat(labels)
        out["accuracy"] = (preds == labels).float().mean().item()
        out |= compute_metrics(preds.cpu().numpy(), labels.cpu().numpy()) if compute_metrics else {}
    else:
        out["perplexity"] = math.exp(out["loss"])
    return out


def evaluate(model, dataset, batch_size=64, collate_fn=None, tokenizer=None, compute_metrics=None):
    """Evaluate a model on a tokenised dataset (no Accelerate needed): see evaluate_loader."""
    loader = make_loader(dataset, batch_size, collate_fn or default_collator(tokenizer))
    with autocast(model):  # the course's precision (device.precision_and_reason)
        return evaluate_loader(model, loader, compute_metrics=compute_metrics)


def default_collator(tokenizer):
    """Pad each batch to its own longest example (dynamic padding); without a tokenizer, stack
    examples that already share one length (fixed-size blocks for language modelling)."""
    return DataCollatorWithPadding(tokenizer) if tokenizer is not None else default_data_collator


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


def peak_memory_mb(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()  # the process's peak so far


def flops_per_token(model, seq_len: float) -> float:
    """Training FLOPs per token: 6 N + 12 L d T (nanoGPT's estimate_mfu, PaLM appendix B).

    N = parameters outside the embedding matrices (a lookup, not a matmul); 6 = 2 forward + 4
    backward per weight; 12 L d T = attention scores and their use over T positions in L layers of
    width d. Frozen layers skip weight gradients, so this overstates partial fine-tuning's work."""
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    n = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    cfg = getattr(model, "config", None)
    layers, width = getattr(cfg, "num_hidden_layers", 0), getattr(cfg, "hidden_size", 0)
    return 6 * n + 12 * layers * width * seq_len


def model_flops_utilisation(device, flops_per_tok, tokens, seconds):
    """Achieved FLOP/s over the GPU's dense bf16 peak; "unknown" off a GPU in PEAK_FLOPS."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    peak = next((v for k, v in PEAK_FLOPS.items() if k in name), None)
    return flops_per_tok * tokens / seconds / peak if peak and seconds > 0 else "unknown"


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


def fit(model, train_dataset, eval_dataset=None, config=None, collate_fn=None, param_groups=None,
        compute_metrics=None, tokenizer=None, resume=False, on_epoch=None):
    """Train `model` on `train_dataset` (tokenised: input_ids, attention_mask, labels) and return a TrainResult.

    param_groups: AdamW groups, e.g. [{"params": head, "lr": 1e-3}, {"params": body, "lr": 1e-5}]
        (discriminative learning rates; leave frozen parameters out). Default: all trainable parameters.
    collate_fn / tokenizer: how examples become a batch; default dynamic padding with the tokenizer.
    compute_metrics(preds, labels) -> dict: extra classification metrics for each evaluation.
    resume: continue from the newest complete checkpoint in config.checkpoint_dir, if there is one.
    on_epoch(epoch): called before each epoch's first batch, e.g. to unfreeze more blocks (ULMFiT).
    With an eval_dataset and config.restore_best, the model ends with the weights of its best
    evaluation (a copy of the trainable weights is kept at each new best).
    """
    cfg, t_start = config or TrainConfig(), time.perf_counter()
    set_seed(cfg.seed)  # python, numpy and torch (every device): dropout draws from these
    acc = make_accelerator(cfg)
    collate_fn = collate_fn or default_collator(tokenizer)
    optimizer = torch.optim.AdamW(param_groups or default_param_groups(model, cfg.weight_decay), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay, fused=acc.device.type in ("cuda", "cpu"))
    train_loader = make_loader(train_dataset, cfg.batch_size, collate_fn, cfg.seed, cfg.group_by_length,
                               group_size=cfg.batch_size * cfg.grad_accum * acc.num_processes)
    eval_loader = make_loader(eval_dataset, cfg.eval_batch_size, collate_fn) if eval_dataset is not None else None
    model, optimizer, train_loader, eval_loader = acc.prepare(model, optimizer, train_loader, eval_loader)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.grad_accum)  # a short last window still steps
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    scheduler = make_schedule(optimizer, cfg.schedule, total_steps, cfg.warmup_ratio)
    pos = _Position()
    if resume and cfg.checkpoint_dir and latest_checkpoint(cfg.checkpoint_dir):
        state = load_checkpoint(latest_checkpoint(cfg.checkpoint_dir), acc.unwrap_model(model),
                                optimizer, scheduler, acc.scaler)
        pos = _Position(**{k: state[k] for k in asdict(pos)})
    if acc.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(acc.device)
    loop = _Loop(acc, model, optimizer, scheduler, eval_loader, cfg, pos, compute_metrics, total_steps, steps_per_epoch,
                 on_epoch)
    try:
        loop.run(train_loader)
    except torch.OutOfMemoryError as err:
        raise out_of_memory(pos.step + 1, cfg) from err
    except RuntimeError as err:  # CPU allocators report exhaustion as a plain RuntimeError
        if "out of memory" not in str(err).lower() and "not enough memory" not in str(err).lower():
            raise
        raise out_of_memory(pos.step + 1, cfg) from err
    finally:  # the caller gets its model back without Accelerate's autocast wrapper, even after an error
        acc.unwrap_model(model, keep_fp32_wrapper=False)
    return loop.result(time.perf_counter() - t_start)


def _millions(n: int) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e5 else f"{n:,}"


class _Loop:
    """The state `fit` carries between steps, and the loop itself."""

    def __init__(self, acc, model, optimizer, scheduler, eval_loader, cfg, pos, compute_metrics, total_steps,
                 steps_per_epoch, on_epoch=None):
        self.acc, self.model, self.optimizer, self.scheduler = acc, model, optimizer, scheduler
        self.eval_loader, self.cfg, self.pos, self.compute_metrics = eval_loader, cfg, pos, compute_metrics
        self.total_steps, self.steps_per_epoch, self.checkpoint = total_steps, steps_per_epoch, None
        self.window_loss, self.window_batches, self.grad_norm = 0.0, 0, None  # losses since the last log row
        self.logged_step = pos.step  # the last step a log row covers
        self.run_loss, self.run_batches, self.examples, self.tokens, self.train_time = 0.0, 0, 0, 0, 0.0
        self.positions = 0  # padded positions: examples x mean padded length gives the attention term
        self.on_epoch, self.best_weights, self.restored_step = on_epoch, None, None
        trainable, total = count_params(model)
        self.bar = tqdm(total=total_steps, initial=pos.step, unit="step", desc=f"training {_millions(trainable)} of "
                        f"{_millions(total)} weights", disable=not cfg.progress or not acc.is_main_process)
        self.plot = LivePlot() if cfg.live_plot and is_notebook() else None

    def run(self, train_loader):
        acc, model, optimizer, cfg, pos = self.acc, self.model, self.optimizer, self.cfg, self.pos
        model.train()
        while not self.done() and pos.epoch < math.ceil(self.total_steps / self.steps_per_epoch):
            train_loader.set_epoch(pos.epoch)  # the epoch's seeded order; on resume skip what was consumed
            if self.on_epoch:
                self.on_epoch(pos.epoch)
            batches = acc.skip_first_batches(train_loader, pos.batch) if pos.batch else train_loader
            t0 = time.perf_counter()
            for batch in batches:  # input_ids, attention_mask: (B, T); labels: (B,) classes or (B, T) next tokens
                with acc.accumulate(model):  # sums gradients; lets the optimizer step every grad_accum batches
                    loss = model(**batch).loss  # mean over the batch's examples (or tokens, for an LM)
                    acc.backward(loss)  # loss / grad_accum (and * loss scale in fp16), then backward
                    if acc.sync_gradients and cfg.max_grad_norm:
                        self.grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                    optimizer.step()  # skipped by Accelerate until the gradients of grad_accum batches are summed
                    optimizer.zero_grad()
                self.count(batch, loss)
                if acc.sync_gradients:
                    if not optimizer.step_was_skipped:  # fp16: a step with overflowing gradients is skipped
                        self.scheduler.step()
                    pos.step += 1
                    self.train_time += time.perf_counter() - t0
                    self.after_step()
                    t0 = time.perf_counter()
                    if self.done():
                        break
            else:  # the epoch ran to its end
                pos.epoch, pos.batch = pos.epoch + 1, 0
                if cfg.eval_every is None:
                    self.evaluate()
                if cfg.checkpoint_every is None and not self.done():
                    self.save()
        if not self.metrics_current():
            self.evaluate()
        self.restore()
        self.save()
        self.bar.close()

    def keep_best(self):
        """A copy of the trainable weights at a new best evaluation (off the GPU: it may be a whole model)."""
        if self.cfg.restore_best:
            self.best_weights = {n: p.detach().to("cpu", copy=True)
                                 for n, p in self.acc.unwrap_model(self.model).named_parameters() if p.requires_grad}

    def restore(self):
        """Put the best evaluation's weights back, with its metrics, when later steps did worse."""
        pos = self.pos
        if self.best_weights is None or pos.best_step is None:
            return
        if pos.best_step != pos.step:
            params = dict(self.acc.unwrap_model(self.model).named_parameters())
            with torch.no_grad():
                for name, value in self.best_weights.items():
                    params[name].copy_(value)
            pos.metrics = pos.best_metrics
        self.restored_step, self.best_weights = pos.best_step, None

    def count(self, batch, loss):
        self.pos.batch += 1
        self.window_loss += loss.detach()
        self.window_batches += 1
        self.examples += len(batch["input_ids"])
        self.tokens += batch["attention_mask"].sum() if "attention_mask" in batch else batch["input_ids"].numel()
        self.positions += batch["input_ids"].numel()

    def done(self):
        return self.pos.stopped_early or self.pos.step >= self.total_steps

    def after_step(self):
        cfg, step = self.cfg, self.pos.step
        self.bar.update(1)
        if step % cfg.log_every == 0 or step == self.total_steps:
            self.log()
        if cfg.eval_every and step % cfg.eval_every == 0:
            self.evaluate()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and not self.done():
            self.save()

    def log(self):
        check_finite(self.window_loss, (self.logged_step + 1, self.pos.step), self.pos.epoch, self.cfg)
        self.logged_step = self.pos.step
        loss = self.acc.reduce(torch.as_tensor(self.window_loss / self.window_batches), "mean").item()
        self.run_loss, self.run_batches = self.run_loss + self.window_loss, self.run_batches + self.window_batches
        self.window_loss, self.window_batches = 0.0, 0
        row = {"step": self.pos.step, "epoch": self.pos.step / self.steps_per_epoch, "train_loss": loss,
               "lr": self.scheduler.get_last_lr()[0],
               "grad_norm": None if self.grad_norm is None else float(self.grad_norm)}
        self.record(row)
        self.bar.set_postfix(loss=f"{loss:.4f}")

    def evaluate(self):
        if self.eval_loader is None:
            return
        pos = self.pos
        pos.metrics = evaluate_loader(self.model, self.eval_loader, self.acc.gather_for_metrics, self.compute_metrics)
        pos.metrics_step = pos.step
        self.record({"step": pos.step, "epoch": pos.step / self.steps_per_epoch}
                    | {f"eval_{k}": v for k, v in pos.metrics.items()})
        self.early_stopping(pos.metrics)

    def early_stopping(self, metrics):
        cfg, pos = self.cfg, self.pos
        if cfg.metric not in metrics:
            raise KeyError(f"config.metric={cfg.metric!r} is not among the evaluation's metrics {sorted(metrics)}")
        value, sign = metrics[cfg.metric], (-1 if cfg.metric in LOWER_IS_BETTER else 1)
        if pos.best is None or sign * value > sign * pos.best:
            pos.best, pos.best_step, pos.bad_evals, pos.best_metrics = value, pos.step, 0, metrics
            self.keep_best()
        else:
            pos.bad_evals += 1
        pos.stopped_early = bool(cfg.early_stopping_patience) and pos.bad_evals >= cfg.early_stopping_patience

    def metrics_current(self):
        return self.eval_loader is None or self.pos.metrics_step == self.pos.step

    def record(self, row):
        self.pos.history.append(row)
        if self.plot:
            self.plot.update(self.pos.history)

    def save(self):
        if not self.cfg.checkpoint_dir:
            return
        if self.acc.is_main_process:  # saves the main process's RNG: resume is bit-exact with one process
            self.checkpoint = save_checkpoint(self.cfg.checkpoint_dir, self.pos.step, self.acc.unwrap_model(self.model),
                                              self.optimizer, self.scheduler, asdict(self.pos), self.acc.scaler,
                                              keep=self.cfg.keep_checkpoints)
        self.acc.wait_for_everyone()

    def result(self, wall_time):
        acc, model = self.acc, self.acc.unwrap_model(self.model)
        examples, tokens = (acc.reduce(torch.as_tensor(x, device=acc.device), "sum").item()
                            for x in (self.examples, self.tokens))
        trainable, total = count_params(model)
        seq_len = self.positions / max(self.examples, 1)
        run_loss = self.run_loss + self.window_loss
        return TrainResult(
            history=self.pos.history, metrics=self.pos.metrics or {}, best_metric=self.pos.best,
            best_step=self.pos.best_step, restored_step=self.restored_step,
            best_epoch=None if self.pos.best_step is None else self.pos.best_step / self.steps_per_epoch,
            steps=self.pos.step,
            train_loss=float(run_loss / max(1, self.run_batches + self.window_batches)),
            stopped_early=self.pos.stopped_early, wall_time_s=wall_time, train_time_s=self.train_time,
            examples_per_s=examples / max(self.train_time, 1e-9), tokens_per_s=tokens / max(self.train_time, 1e-9),
            peak_memory_mb=peak_memory_mb(acc.device), trainable_params=trainable, total_params=total,
            mfu=model_flops_utilisation(acc.device, flops_per_token(model, seq_len), tokens, self.train_time),
            precision=acc.mixed_precision,
            device=str(acc.device), distributed=acc.distributed_type.value, processes=acc.num_processes,
            checkpoint=str(self.checkpoint) if self.checkpoint else None,
            checkpoint_size_mb=checkpoint_size_mb(self.checkpoint) if self.checkpoint else None)
