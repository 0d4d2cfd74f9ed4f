"""Exercise checks for lesson 04 (partial fine-tuning)."""
from ..engine.params import count_params
from ..methods.freezing import blocks, freeze, head_parameters
from .feedback import close, correct


def check_trainable_count(predicted, model, train_blocks: int) -> str:
    """`predicted` should equal count_params(freeze(model, train_blocks))[0]."""
    expected, total = count_params(freeze(model, train_blocks))
    head = sum(p.numel() for p in head_parameters(model))
    block = sum(p.numel() for p in blocks(model)[-1].parameters())
    weights = sum(p.numel() for p in blocks(model)[-1].parameters() if p.ndim == 2)
    norms = sum(p.numel() for n, p in blocks(model)[-1].named_parameters() if "LayerNorm" in n)
    if predicted == expected:
        return correct(f"{train_blocks} block(s) x {block:,} + head {head:,} = {expected:,} "
                       f"trainable ({expected / total:.1%} of {total:,})")
    guesses = {expected - head: "You left out the head: it always trains (hidden_size x labels + labels).",
               expected - train_blocks * (block - weights): "You counted the weight matrices only: "
               "every Linear also has a bias.",
               expected - train_blocks * norms: "You left out the two LayerNorms of each block "
               "(a weight and a bias of hidden_size each).",
               expected + block: "That is one block too many.",
               expected - block: "That is one block too few.",
               total: "That is every parameter of the model; most are frozen."}
    if predicted in guesses:
        raise AssertionError(guesses[predicted])
    raise AssertionError(f"Expected {expected:,}, got {predicted:,}. Per block: attention 4 x "
                         "(H x H + H), feed-forward (H x F + F) + (F x H + H), two LayerNorms 2 x 2H.")


def check_block_rates(rates, lr: float, decay: float, n_blocks: int) -> str:
    """`rates` should be ULMFiT's rate of each block, bottom to top: lr / decay ** (n - 1 - i)."""
    expected = [lr / decay ** (n_blocks - 1 - i) for i in range(n_blocks)]
    rates = [float(r) for r in rates]
    if len(rates) != n_blocks:
        raise AssertionError(f"Give one rate per block: {n_blocks}, got {len(rates)}.")
    matches = lambda wanted: all(close(a, b, rel=1e-3) for a, b in zip(rates, wanted))
    if matches(expected):
        return correct(f"the bottom block learns {expected[-1] / expected[0]:.0f}x slower than the top one")
    if matches(expected[::-1]):
        raise AssertionError("Reversed: list the blocks bottom (index 0) to top; the *top* block "
                             "gets the full lr.")
    if matches([lr / decay ** (n_blocks - i) for i in range(n_blocks)]):
        raise AssertionError("Off by one: the top block learns at lr itself (decay ** 0).")
    if matches([lr / (decay * (n_blocks - 1 - i) or 1) for i in range(n_blocks)]):
        raise AssertionError("Divide by decay once per block below the top: decay ** k, not decay * k.")
    raise AssertionError(f"Expected {[f'{r:.2g}' for r in expected]}: block i learns at "
                         "lr / decay ** (n_blocks - 1 - i).")


def check_bias_share(value, model) -> str:
    """`value` should be the share (0..1) of the model's parameters that are biases."""
    params = dict(model.named_parameters())
    biases = sum(p.numel() for n, p in params.items() if n.endswith("bias"))
    total = sum(p.numel() for p in params.values())
    if close(value, biases / total, rel=0.01):
        return correct(f"{biases:,} of {total:,} parameters are biases ({biases / total:.3%})")
    if close(value, 100 * biases / total, rel=0.01):
        raise AssertionError("That is a percentage; give the share as a fraction (0..1).")
    if close(value, biases, rel=0.01):
        raise AssertionError("That is the number of bias parameters; divide by the total.")
    vectors = sum(p.numel() for p in params.values() if p.ndim == 1)
    if close(value, vectors / total, rel=0.01):
        raise AssertionError("You counted every 1-d tensor, LayerNorm weights included; BitFit "
                             "trains only the tensors whose name ends in 'bias'.")
    raise AssertionError(f"Expected {biases / total:.4f}, got {value}: sum p.numel() over "
                         "named_parameters() whose name ends in 'bias', divided by all parameters.")
