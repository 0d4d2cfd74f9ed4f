"""Exercise checks for lesson 05 (full fine-tuning)."""
import torch

from ..engine.loaders import load_model
from .feedback import close, correct

MB = 2**20


def check_training_state_mb(value, model) -> str:
    """`value`: MB of weights + gradients + AdamW's two moments for full fp32 fine-tuning."""
    n = sum(p.numel() for p in model.parameters())
    expected = 4 * n * 4 / MB  # four fp32 copies: weights, gradients, first and second moment
    if close(value, expected):
        return correct(f"{n:,} parameters x 4 copies x 4 bytes = {expected:,.0f} MB before any "
                       "activation is stored")
    for copies, missing in ((1, "gradients and AdamW's two moments"), (2, "AdamW's two moments"),
                            (3, "one of AdamW's two moments (it keeps a mean and a variance)")):
        if close(value, copies * n * 4 / MB):
            raise AssertionError(f"You counted {copies} copies of the parameters; add {missing}.")
    if close(value, expected * MB / 1e6):
        raise AssertionError("Close: you divided by 1e6; use MB = 2**20 bytes, as the course does.")
    if close(value, expected / 4) or close(value, expected * 2):
        raise AssertionError("Check the bytes per number: fp32 is 4 bytes.")
    raise AssertionError(f"Expected about {expected:,.0f} MB: count every parameter "
                         "(p.numel() over model.parameters()), keep 4 fp32 copies, 4 bytes each.")


def check_best_epoch(value, history) -> str:
    """`value`: the epoch (as logged in `history`) with the lowest validation loss."""
    evals = history.dropna(subset=["eval_loss"])
    best = float(evals.epoch[evals.eval_loss.idxmin()])
    if value is not None and close(float(value), best, rel=1e-6):
        last = float(evals.epoch.iloc[-1])
        note = "training longer only overfit" if best < last else "it was still improving"
        return correct(f"the validation loss was lowest at epoch {best:g} of {last:g}: {note}")
    train = history.dropna(subset=["train_loss"])
    if value is not None and close(float(value), float(train.epoch[train.train_loss.idxmin()]), 1e-6):
        raise AssertionError("That is where the *training* loss is lowest; overfitting is read "
                             "from the validation loss (column eval_loss).")
    if value is not None and close(float(value), float(evals.epoch[evals.eval_loss.idxmax()]), 1e-6):
        raise AssertionError("That is the highest validation loss: use idxmin, not idxmax.")
    raise AssertionError(f"Expected epoch {best:g}. Keep the rows with an eval_loss "
                         "(history.dropna(subset=['eval_loss'])) and take the epoch of its minimum.")


def check_backbone_unchanged(model, name: str = "minilm-l6") -> str:
    """`model`: a MeanPoolClassifier after head-only training; its backbone must equal the
    pretrained one (nothing to forget) while its head has learned."""
    pretrained = load_model(name, task="base").state_dict()
    changed = [k for k, v in model.backbone.state_dict().items()
               if k in pretrained and not torch.equal(v, pretrained[k])]
    if changed:
        raise AssertionError(f"{len(changed)} backbone tensors changed (e.g. {changed[0]}): call "
                             "freeze(model, 0) before fit, so only the head trains.")
    if not model.classifier.weight.requires_grad:
        raise AssertionError("The head is frozen too: freeze(model, 0) leaves the head trainable; "
                             "did you set requires_grad=False on every parameter?")
    return correct("the backbone is bit-for-bit the pretrained one: head-only training cannot "
                   "forget, because the features never change")
