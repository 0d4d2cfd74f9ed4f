"""The training loop of the course: `fit` takes a model and tokenised data to a trained model,
a history of losses and metrics, and what the run cost (time, memory, throughput).

Every method in the course (head-only, last-k layers, discriminative learning rates, LoRA,
full fine-tuning, continued pretraining, distillation) trains through this one function; they
differ only in which parameters are trainable and at what learning rate (`param_groups`).

Built on HF Accelerate, so the same code runs on a CPU, one GPU, or several processes
(`accelerate launch script.py`): Accelerate moves batches to the device, shards the data
across processes, averages gradients, and wraps the forward pass in autocast for bf16/fp16.

Read top to bottom: `fit`, the pieces it builds in the order it builds them, the loop, and
evaluation. What the run measures about itself is in telemetry.py, how it fails in failures.py.
"""
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import pandas as pd
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, Sampler
from transformers import DataCollatorWithPadding, default_data_collator
from transformers.trainer_pt_utils import get_length_grouped_indices

from . import quiet
from .attention import cpu_attention
from .checkpoint import folder_mb, latest_checkpoint, load_checkpoint, save_checkpoint
from .device import autocast, mixed_precision, model_device, pick_device
from .failures import check_finite, is_out_of_memory, out_of_memory
from .lm_loss import adapters_uncast, labelled_loss
from .params import count_params, one_rate_groups, put_back, trainable_copy
from .schedules import make_schedule
from .telemetry import LivePlot, Throughput, is_notebook, peak_memory_mb, progress_bar

# the columns a batch may carry into the model; the last five are a preference pair's (dpo.py)
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "label",
                "prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps")
LOWER_IS_BETTER = ("loss", "perplexity")


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
    weight_decay: float = 0.01            # AdamW's decoupled weight decay; never applied to biases and norms (freezing.decays)
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

    @classmethod
    def from_profile(cls, profile, **fields) -> "TrainConfig":
        """The course's protocol run in `profile`: at most its epochs at its batch size, validation
        accuracy each epoch, early stopping after its patience, the best weights restored, no bar.
        fields override any of these (a lesson training on a loss passes metric="loss")."""
        return cls(**{"epochs": profile.epochs, "batch_size": profile.batch_size, "metric": "accuracy",
                      "early_stopping_patience": profile.patience, "restore_best": True, "progress": False} | fields)


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
    checkpoint_folder_mb: float | None = None  # that checkpoint on disk: weights, optimizer state, RNG

    def frame(self):
        """The history as a pandas DataFrame: one row per log step or evaluation."""

        return pd.DataFrame(self.history)

    def summary(self):
        """Everything but the history: the figures that go into a result JSON."""
        return {k: v for k, v in asdict(self).items() if k != "history"}


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
    optimizer = torch.optim.AdamW(param_groups or one_rate_groups(model, cfg.weight_decay), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay, fused=acc.device.type in ("cuda", "cpu"))
    train_loader = make_loader(train_dataset, cfg.batch_size, collate_fn, cfg.seed, cfg.group_by_length,
                               group_size=cfg.batch_size * cfg.grad_accum * acc.num_processes)
    eval_loader = make_loader(eval_dataset, cfg.eval_batch_size, collate_fn) if eval_dataset is not None else None
    model, optimizer, train_loader, eval_loader = acc.prepare(model, optimizer, train_loader, eval_loader)
    steps_per_epoch = math.ceil(len(train_loader) / cfg.grad_accum)  # a short last window still steps
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    scheduler = make_schedule(optimizer, cfg.schedule, total_steps, cfg.warmup_ratio)
    parts = _Parts(model, optimizer, scheduler, train_loader, eval_loader, steps_per_epoch, total_steps,
                   compute_metrics, on_epoch)
    pos = _start_position(acc, parts, cfg, resume)
    if acc.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(acc.device)
    loop = _Loop(acc, parts, cfg, pos)
    try:
        with cpu_attention(acc.unwrap_model(model), "training"):
            loop.run()
    except RuntimeError as err:  # torch.OutOfMemoryError is one; CPU allocators raise a plain RuntimeError
        if not is_out_of_memory(err):
            raise
        raise out_of_memory(pos.step + 1, cfg) from err
    finally:  # the caller gets its model back without Accelerate's autocast wrapper, even after an error
        acc.unwrap_model(model, keep_fp32_wrapper=False)
    return loop.result(time.perf_counter() - t_start)


def make_accelerator(config):
    from accelerate.utils import DataLoaderConfiguration
    # One Accelerator per fit: forget the previous run's precision (transformers' Trainer does the same).
    AcceleratorState._reset_state()
    device = "cpu" if os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") else pick_device()
    return Accelerator(mixed_precision=mixed_precision(config.mixed_precision, device),
                       gradient_accumulation_steps=config.grad_accum,
                       dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()))


def default_collator(tokenizer):
    """Pad each batch to its own longest example (dynamic padding); without a tokenizer, stack
    examples that already share one length (fixed-size blocks for language modelling)."""
    return DataCollatorWithPadding(tokenizer) if tokenizer is not None else default_data_collator


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


class _Parts(NamedTuple):
    """What `fit` hands the loop: the pieces Accelerate prepared, the run's length, the caller's hooks."""
    model: torch.nn.Module                 # on the device, in autocast, wrapped for several processes
    optimizer: torch.optim.Optimizer       # steps only once grad_accum batches are summed
    scheduler: torch.optim.lr_scheduler.LRScheduler  # the learning rate after each optimizer step
    train_loader: DataLoader               # this process's share of each epoch's seeded order
    eval_loader: DataLoader | None         # None: no evaluation set
    steps_per_epoch: int                   # optimizer steps in one pass over train_loader
    total_steps: int                       # optimizer steps the whole run takes
    compute_metrics: Callable | None       # compute_metrics(preds, labels) -> dict, at each evaluation
    on_epoch: Callable | None              # on_epoch(epoch), before each epoch's first batch


def _start_position(acc, parts, cfg, resume):
    """Step 0; or with `resume`, where the newest complete checkpoint left off (its weights,
    optimizer, schedule and loss scale loaded into the parts)."""
    newest = latest_checkpoint(cfg.checkpoint_dir) if resume and cfg.checkpoint_dir else None
    if newest is None:
        return _Position()
    state = load_checkpoint(newest, acc.unwrap_model(parts.model), parts.optimizer, parts.scheduler, acc.scaler)
    return _Position(**{k: state[k] for k in asdict(_Position())})


@dataclass
class _Position:
    """Where the loop is; saved in each checkpoint so a resumed run continues exactly."""
    step: int = 0                  # optimizer steps done
    epoch: int = 0                 # current epoch
    batch: int = 0                 # batches of the current epoch already consumed
    history: list = field(default_factory=list)  # the rows of TrainResult.history so far
    best: float | None = None      # best config.metric so far
    best_step: int | None = None   # ...and the step it was seen at
    bad_evals: int = 0             # evaluations since the last improvement
    stopped_early: bool = False    # early stopping ended the run
    metrics: dict | None = None    # the latest evaluation...
    metrics_step: int | None = None  # ...and the step it was made at
    best_metrics: dict | None = None  # the evaluation at best_step


class _Loop:
    """The loop itself, and the state it carries between steps."""

    def __init__(self, acc, parts, cfg, pos):
        self.acc, self.parts, self.cfg, self.pos = acc, parts, cfg, pos
        self.window_loss, self.window_batches, self.grad_norm = 0.0, 0, None  # since the last log row
        self.logged_step = pos.step  # the last step a log row covers
        self.run_loss, self.run_batches = 0.0, 0  # the log windows closed in this call
        self.speed = Throughput()
        self.best_weights, self.restored_step, self.checkpoint = None, None, None
        self.bar = progress_bar(parts.model, parts.total_steps, pos.step, cfg.progress and acc.is_main_process)
        self.plot = LivePlot() if cfg.live_plot and is_notebook() else None

    def run(self):
        epochs = math.ceil(self.parts.total_steps / self.parts.steps_per_epoch)
        self.parts.model.train()
        while not self.done() and self.pos.epoch < epochs:
            self.run_epoch()
        if not self.metrics_current():
            self.evaluate()
        self.restore()
        self.save()
        self.bar.close()

    def run_epoch(self):
        """One pass over the training set, or what is left of it: after a resume, until max_steps or early stopping."""
        acc, parts, cfg, pos = self.acc, self.parts, self.cfg, self.pos
        model, optimizer = parts.model, parts.optimizer
        parts.train_loader.set_epoch(pos.epoch)  # the epoch's seeded order; on resume skip what was consumed
        if parts.on_epoch:
            parts.on_epoch(pos.epoch)
        batches = acc.skip_first_batches(parts.train_loader, pos.batch) if pos.batch else parts.train_loader
        t0 = time.perf_counter()
        for batch in batches:  # input_ids, attention_mask: (B, T); labels: (B,) classes or (B, T) next tokens
            with acc.accumulate(model):  # sums gradients; lets the optimizer step every grad_accum batches
                loss = self.loss(batch)  # mean over the batch's examples (or tokens, for an LM)
                acc.backward(loss)  # loss / grad_accum (and * loss scale in fp16), then backward
                if acc.sync_gradients and cfg.max_grad_norm:
                    self.grad_norm = acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()  # skipped by Accelerate until the gradients of grad_accum batches are summed
                optimizer.zero_grad()
            self.count(batch, loss)
            if acc.sync_gradients:
                if not optimizer.step_was_skipped:  # fp16: a step with overflowing gradients is skipped
                    parts.scheduler.step()
                pos.step += 1
                self.speed.train_time_s += time.perf_counter() - t0
                self.after_step()
                t0 = time.perf_counter()
                if self.done():
                    return
        pos.epoch, pos.batch = pos.epoch + 1, 0  # the epoch ran to its end
        if cfg.eval_every is None:
            self.evaluate()
        if cfg.checkpoint_every is None and not self.done():
            self.save()

    def loss(self, batch):
        """The model's own loss; for a plain causal LM in one process, the same loss with the output
        layer applied only to the labelled positions (lm_loss.labelled_loss). One process only: with
        several, the wrapped model's forward is what synchronises the gradients."""
        if self.acc.num_processes == 1:
            model = self.acc.unwrap_model(self.parts.model)
            # the prepared forward autocasts; labelled_loss calls the layers themselves
            with self.acc.autocast(), adapters_uncast(model, self.acc.mixed_precision != "no"):
                loss = labelled_loss(model, batch)
            if loss is not None:
                return loss
        return self.parts.model(**batch).loss

    def count(self, batch, loss):
        self.pos.batch += 1
        self.window_loss += loss.detach()
        self.window_batches += 1
        self.speed.count(batch)

    def done(self):
        return self.pos.stopped_early or self.pos.step >= self.parts.total_steps

    def after_step(self):
        cfg, step = self.cfg, self.pos.step
        self.bar.update(1)
        if step % cfg.log_every == 0 or step == self.parts.total_steps:
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
        row = {"step": self.pos.step, "epoch": self.pos.step / self.parts.steps_per_epoch, "train_loss": loss,
               "lr": self.parts.scheduler.get_last_lr()[0],
               "grad_norm": None if self.grad_norm is None else float(self.grad_norm)}
        self.record(row)
        self.bar.set_postfix(loss=f"{loss:.4f}")

    def record(self, row):
        self.pos.history.append(row)
        if self.plot:
            self.plot.update(self.pos.history)

    def evaluate(self):
        parts, pos = self.parts, self.pos
        if parts.eval_loader is None:
            return
        pos.metrics = evaluate_loader(parts.model, parts.eval_loader, self.acc.gather_for_metrics,
                                      parts.compute_metrics)
        pos.metrics_step = pos.step
        self.record({"step": pos.step, "epoch": pos.step / parts.steps_per_epoch}
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

    def keep_best(self):
        """A copy of the trainable weights at a new best evaluation (off the GPU: it may be a whole model)."""
        if self.cfg.restore_best:
            self.best_weights = trainable_copy(self.acc.unwrap_model(self.parts.model))

    def save(self):
        if not self.cfg.checkpoint_dir:
            return
        acc, parts = self.acc, self.parts
        if acc.is_main_process:  # saves the main process's RNG: resume is bit-exact with one process
            self.checkpoint = save_checkpoint(self.cfg.checkpoint_dir, self.pos.step, acc.unwrap_model(parts.model),
                                              parts.optimizer, parts.scheduler, asdict(self.pos), acc.scaler,
                                              keep=self.cfg.keep_checkpoints)
        acc.wait_for_everyone()

    def metrics_current(self):
        return self.parts.eval_loader is None or self.pos.metrics_step == self.pos.step

    def restore(self):
        """Put the best evaluation's weights back, with its metrics, when later steps did worse."""
        pos = self.pos
        if self.best_weights is None or pos.best_step is None:
            return
        if pos.best_step != pos.step:
            put_back(self.acc.unwrap_model(self.parts.model), self.best_weights)
            pos.metrics = pos.best_metrics
        self.restored_step, self.best_weights = pos.best_step, None

    def result(self, wall_time):
        acc, pos, per_epoch = self.acc, self.pos, self.parts.steps_per_epoch
        model = acc.unwrap_model(self.parts.model)
        rates = self.speed.rates(model, acc.device, total=lambda x: acc.reduce(x, "sum"))  # examples/s, tokens/s, mfu
        trainable, total = count_params(model)
        run_loss = self.run_loss + self.window_loss
        return TrainResult(
            history=pos.history, metrics=pos.metrics or {}, best_metric=pos.best, best_step=pos.best_step,
            restored_step=self.restored_step, best_epoch=None if pos.best_step is None else pos.best_step / per_epoch,
            steps=pos.step, train_loss=float(run_loss / max(1, self.run_batches + self.window_batches)),
            stopped_early=pos.stopped_early, wall_time_s=wall_time, train_time_s=self.speed.train_time_s, **rates,
            peak_memory_mb=peak_memory_mb(acc.device), trainable_params=trainable, total_params=total,
            precision=acc.mixed_precision, device=str(acc.device), distributed=acc.distributed_type.value,
            processes=acc.num_processes, checkpoint=str(self.checkpoint) if self.checkpoint else None,
            checkpoint_folder_mb=folder_mb(self.checkpoint) if self.checkpoint else None)


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
