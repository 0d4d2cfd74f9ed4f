"""Exercise checks for lessons 05 (full fine-tuning) and 06 (LoRA).

Each check prints and returns "Correct: ..." or raises AssertionError saying what likely went wrong.
"""
import torch

from .checks import _close, _correct

MB = 2**20


def check_training_state_mb(value, model) -> str:
    """`value`: MB of weights + gradients + AdamW's two moments for full fp32 fine-tuning."""
    n = sum(p.numel() for p in model.parameters())
    expected = 4 * n * 4 / MB  # four fp32 copies: weights, gradients, first and second moment
    if _close(value, expected):
        return _correct(f"{n:,} parameters x 4 copies x 4 bytes = {expected:,.0f} MB before any "
                        "activation is stored")
    for copies, missing in ((1, "gradients and AdamW's two moments"), (2, "AdamW's two moments"),
                            (3, "one of AdamW's two moments (it keeps a mean and a variance)")):
        if _close(value, copies * n * 4 / MB):
            raise AssertionError(f"You counted {copies} copies of the parameters; add {missing}.")
    if _close(value, expected * MB / 1e6):
        raise AssertionError("Close: you divided by 1e6; use MB = 2**20 bytes, as the course does.")
    if _close(value, expected / 4) or _close(value, expected * 2):
        raise AssertionError("Check the bytes per number: fp32 is 4 bytes.")
    raise AssertionError(f"Expected about {expected:,.0f} MB: count every parameter "
                         "(p.numel() over model.parameters()), keep 4 fp32 copies, 4 bytes each.")


def check_best_epoch(value, history) -> str:
    """`value`: the epoch (as logged in `history`) with the lowest validation loss."""
    evals = history.dropna(subset=["eval_loss"])
    best = float(evals.epoch[evals.eval_loss.idxmin()])
    if value is not None and _close(float(value), best, rel=1e-6):
        last = float(evals.epoch.iloc[-1])
        note = "training longer only overfit" if best < last else "it was still improving"
        return _correct(f"the validation loss was lowest at epoch {best:g} of {last:g}: {note}")
    train = history.dropna(subset=["train_loss"])
    if value is not None and _close(float(value), float(train.epoch[train.train_loss.idxmin()]), 1e-6):
        raise AssertionError("That is where the *training* loss is lowest; overfitting is read "
                             "from the validation loss (column eval_loss).")
    if value is not None and _close(float(value), float(evals.epoch[evals.eval_loss.idxmax()]), 1e-6):
        raise AssertionError("That is the highest validation loss: use idxmin, not idxmax.")
    raise AssertionError(f"Expected epoch {best:g}. Keep the rows with an eval_loss "
                         "(history.dropna(subset=['eval_loss'])) and take the epoch of its minimum.")


def check_backbone_unchanged(model, name: str = "minilm-l6") -> str:
    """`model`: a MeanPoolClassifier after head-only training; its backbone must equal the
    pretrained one (nothing to forget) while its head has learned."""
    from .loaders import load_model
    pretrained = load_model(name, task="base").state_dict()
    changed = [k for k, v in model.backbone.state_dict().items()
               if k in pretrained and not torch.equal(v, pretrained[k])]
    if changed:
        raise AssertionError(f"{len(changed)} backbone tensors changed (e.g. {changed[0]}): call "
                             "freeze(model, 0) before fit, so only the head trains.")
    if not model.classifier.weight.requires_grad:
        raise AssertionError("The head is frozen too: freeze(model, 0) leaves the head trainable; "
                             "did you set requires_grad=False on every parameter?")
    return _correct("the backbone is bit-for-bit the pretrained one: head-only training cannot "
                    "forget, because the features never change")


def lora_modules(model) -> dict:
    """{name: peft LoRA layer} of every adapted Linear in `model`."""
    return {n: m for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}


def check_lora_params(value, model, r: int, targets=("query", "value")) -> str:
    """`value`: the adapter parameters LoRA of rank r adds to every `targets` Linear of `model`."""
    linears = [m for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in targets]
    expected = sum(r * (m.in_features + m.out_features) for m in linears)
    if value == expected:
        return _correct(f"{len(linears)} adapted matrices x r x (d_in + d_out) = {expected:,} "
                        "parameters")
    if value == sum(m.in_features * m.out_features for m in linears):
        raise AssertionError("That is the size of the full matrices LoRA leaves frozen; an adapter "
                             "is A (r x d_in) and B (d_out x r): r * (d_in + d_out) parameters.")
    if value == expected // 2:
        raise AssertionError("Half: each adapter has two matrices, A (r x d_in) and B (d_out x r).")
    if value and expected % value == 0:
        raise AssertionError(f"Too few by a factor {expected // value}: count every targeted "
                             f"Linear ({len(linears)} of them: {', '.join(targets)} in every block).")
    raise AssertionError(f"Expected {expected:,}: for each of the {len(linears)} Linear layers "
                         f"named {targets}, add r * (in_features + out_features).")


def check_merged_weight(value, layer) -> str:
    """`value`: the merged weight W + (alpha / r) B A of one peft LoRA Linear `layer`."""
    W = layer.base_layer.weight  # (out, in)
    A, B = layer.lora_A["default"].weight, layer.lora_B["default"].weight  # (r, in), (out, r)
    scaling = layer.scaling["default"]
    expected = W + scaling * B @ A
    value = torch.as_tensor(value)
    if value.shape != expected.shape:
        raise AssertionError(f"Shape {tuple(value.shape)}, expected {tuple(expected.shape)} (out, in): "
                             "B (out x r) @ A (r x in), in that order.")
    if torch.allclose(value, expected, atol=1e-6):
        return _correct(f"W + {scaling:g} * B @ A: the adapter folds into one matrix, so the merged "
                        "model costs nothing extra at inference")
    if torch.allclose(value, W + B @ A, atol=1e-6):
        raise AssertionError(f"peft scales the update by lora_alpha / r = {scaling:g} "
                             "(layer.scaling['default']); multiply B @ A by it.")
    if torch.allclose(value, W, atol=1e-6):
        raise AssertionError("That is the frozen weight alone; add the adapter's update.")
    raise AssertionError("Expected W + scaling * B @ A with W = layer.base_layer.weight, "
                         "A = layer.lora_A['default'].weight, B = layer.lora_B['default'].weight.")


def check_lora_targets(model, targets, r: int) -> str:
    """`model`: a peft model with rank-r adapters on exactly the Linear layers named `targets`."""
    adapted = lora_modules(model)
    if not adapted:
        raise AssertionError("No LoRA layer found: wrap the model with "
                             "tlcourse.lora.add_lora(model, r=..., target_modules=[...]).")
    names = {n.rsplit(".", 1)[-1] for n in adapted}
    if names != set(targets):
        missing, extra = sorted(set(targets) - names), sorted(names - set(targets))
        raise AssertionError(f"Adapted {sorted(names)}; missing {missing}, not wanted {extra}. "
                             "Pass target_modules=[...] with exactly those names.")
    ranks = {m.r["default"] for m in adapted.values()}
    if ranks != {r}:
        raise AssertionError(f"The adapters have rank {sorted(ranks)}; ask for r={r}.")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return _correct(f"{len(adapted)} adapted layers, {trainable:,} trainable parameters "
                    f"({100 * trainable / total:.2f}% of {total:,})")
