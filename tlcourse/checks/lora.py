"""Exercise checks for lesson 06 (LoRA)."""
import torch

from .feedback import correct


def lora_modules(model) -> dict:
    """{name: peft LoRA layer} of every adapted Linear in `model`."""
    return {n: m for n, m in model.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}


def check_lora_params(value, model, r: int, targets=("query", "value")) -> str:
    """`value`: the adapter parameters LoRA of rank r adds to every `targets` Linear of `model`."""
    linears = [m for n, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in targets]
    expected = sum(r * (m.in_features + m.out_features) for m in linears)
    if value == expected:
        return correct(f"{len(linears)} adapted matrices x r x (d_in + d_out) = {expected:,} "
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
        return correct(f"W + {scaling:g} * B @ A: the adapter folds into one matrix, so the merged "
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
                             "tlcourse.methods.lora.add_lora(model, r=..., target_modules=[...]).")
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
    return correct(f"{len(adapted)} adapted layers, {trainable:,} trainable parameters "
                   f"({100 * trainable / total:.2f}% of {total:,})")
