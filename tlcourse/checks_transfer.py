"""Exercise checks for lessons 03 (feature extraction) and 04 (partial fine-tuning).

Each check recomputes the answer; it prints and returns "Correct: ..." or raises AssertionError
saying in plain words what likely went wrong.
"""
import math

import numpy as np


def _correct(message: str) -> str:
    print(f"Correct: {message}")
    return f"Correct: {message}"


def _close(a, b, rel: float = 1e-3) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def check_best_layer(layer, accuracies) -> str:
    """`layer` should be the index of the highest probe accuracy (0 = token embeddings)."""
    acc = np.asarray(accuracies, dtype=float)
    best = int(acc.argmax())
    if isinstance(layer, (float, np.floating)) and not float(layer).is_integer():
        raise AssertionError(f"{layer} looks like an accuracy; give the layer's index (an integer "
                             f"from 0 to {len(acc) - 1}), e.g. with np.argmax.")
    if layer == best:
        if best == 0:
            return _correct(f"the token embeddings themselves are best here ({acc[0]:.1%})")
        return _correct(f"layer {best} ({acc[best]:.1%}) beats the token embeddings "
                        f"({acc[0]:.1%}) by {100 * (acc[best] - acc[0]):.1f} points")
    if layer == best + 1:
        raise AssertionError("Off by one: the list starts at index 0, the token embeddings, so "
                             "block i is at index i. Use the index argmax returns as it is.")
    if layer == int(acc.argmin()):
        raise AssertionError("That is the *worst* layer: use argmax, not argmin.")
    raise AssertionError(f"Expected {best}, got {layer}: take the index of the largest accuracy.")


def check_concat_last_four(X, layers) -> str:
    """`X` should join the last four layers' features side by side: (N, 4C)."""
    layers = np.asarray(layers)  # (L+1, N, C)
    expected = np.concatenate(list(layers[-4:]), axis=-1)
    X = np.asarray(X)
    if X.shape == expected.shape and np.allclose(X, expected):
        return _correct(f"{X.shape[0]} texts x {X.shape[1]} features: the last four layers side by side")
    if X.shape == (4 * layers.shape[1], layers.shape[2]):
        raise AssertionError("You stacked the layers one under the other (more rows); each text "
                             "needs one longer row: concatenate along the last axis (axis=-1).")
    if X.shape == layers.shape[1:]:
        raise AssertionError(f"Shape {X.shape} is one layer's (or an average of layers); the "
                             f"concatenation has 4 x {layers.shape[2]} columns.")
    if X.shape == expected.shape and np.allclose(X, np.concatenate(list(layers[:4]), axis=-1)):
        raise AssertionError("Those are the *first* four layers (layers[:4]); take layers[-4:].")
    if X.shape == expected.shape:
        raise AssertionError("The shape is right but the values are not: use the last four "
                             "layers, in order, layers[-4:].")
    raise AssertionError(f"Expected shape {expected.shape}, got {X.shape}: "
                         "np.concatenate(list(layers[-4:]), axis=-1).")


def points_per_million(frame) -> dict:
    """Accuracy points over the majority class per million trainable parameters, mean over seeds."""
    means = frame.groupby("method")[["metric_accuracy", "trainable_params"]].mean()
    floor = means.loc["majority", "metric_accuracy"]
    means = means.drop(index="majority")
    return dict(100 * (means.metric_accuracy - floor) / (means.trainable_params / 1e6))


def check_points_per_million(value, frame) -> str:
    """`value` ({method: number}) should be points_per_million(frame) for every method but majority."""
    expected = points_per_million(frame)
    value = dict(value)
    missing = sorted(set(expected) - set(value))
    if missing:
        raise AssertionError(f"Missing methods: {missing}. Give one number for every method in the "
                             "frame except majority (which trains no parameters).")
    wrong = [m for m in expected if not _close(value[m], expected[m], rel=0.01)]
    if not wrong:
        best = max(expected, key=expected.get)
        return _correct(f"{best} buys the most accuracy per trainable parameter "
                        f"({expected[best]:,.0f} points per million)")
    m = wrong[0]
    ratio = float(value[m]) / expected[m] if expected[m] else float("nan")
    hints = {1e-6: "per parameter instead of per million: divide trainable_params by 1e6.",
             1e-2: "a fraction instead of points: multiply the accuracy gain by 100.",
             1e-8: "a fraction per parameter: use points (x 100) per million parameters (/ 1e6).",
             1e6: "times a million instead of per million: divide trainable_params by 1e6."}
    for factor, hint in hints.items():
        if _close(ratio, factor, rel=0.02):
            raise AssertionError(f"{m}: off by a factor of {ratio:.0e}: {hint}")
    means = frame[frame.method == m][["metric_accuracy", "trainable_params"]].mean()
    if _close(value[m], 100 * means.metric_accuracy / (means.trainable_params / 1e6), rel=0.01):
        raise AssertionError(f"{m}: subtract the majority-class accuracy first: only the points a "
                             "method gains over always answering the common label count.")
    raise AssertionError(f"{m}: expected {expected[m]:,.1f}, got {value[m]}. Average over seeds "
                         "per method, subtract the majority accuracy, times 100, divided by "
                         "trainable_params / 1e6.")


def check_trainable_count(predicted, model, train_blocks: int) -> str:
    """`predicted` should equal count_trainable(freeze(model, train_blocks))[0]."""
    from .freezing import blocks, count_trainable, freeze, head_parameters
    expected, total = count_trainable(freeze(model, train_blocks))
    head = sum(p.numel() for p in head_parameters(model))
    block = sum(p.numel() for p in blocks(model)[-1].parameters())
    weights = sum(p.numel() for p in blocks(model)[-1].parameters() if p.ndim == 2)
    norms = sum(p.numel() for n, p in blocks(model)[-1].named_parameters() if "LayerNorm" in n)
    if predicted == expected:
        return _correct(f"{train_blocks} block(s) x {block:,} + head {head:,} = {expected:,} "
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
    if all(_close(a, b) for a, b in zip(rates, expected)):
        return _correct(f"the bottom block learns {expected[-1] / expected[0]:.0f}x slower than the top one")
    if all(_close(a, b) for a, b in zip(rates, expected[::-1])):
        raise AssertionError("Reversed: list the blocks bottom (index 0) to top; the *top* block "
                             "gets the full lr.")
    if all(_close(a, b) for a, b in zip(rates, [lr / decay ** (n_blocks - i) for i in range(n_blocks)])):
        raise AssertionError("Off by one: the top block learns at lr itself (decay ** 0).")
    if all(_close(a, b) for a, b in zip(rates, [lr / (decay * (n_blocks - 1 - i) or 1)
                                                for i in range(n_blocks)])):
        raise AssertionError("Divide by decay once per block below the top: decay ** k, not decay * k.")
    raise AssertionError(f"Expected {[f'{r:.2g}' for r in expected]}: block i learns at "
                         "lr / decay ** (n_blocks - 1 - i).")


def check_bias_share(value, model) -> str:
    """`value` should be the share (0..1) of the model's parameters that are biases."""
    params = dict(model.named_parameters())
    biases = sum(p.numel() for n, p in params.items() if n.endswith("bias"))
    total = sum(p.numel() for p in params.values())
    if _close(value, biases / total, rel=0.01):
        return _correct(f"{biases:,} of {total:,} parameters are biases ({biases / total:.3%})")
    if _close(value, 100 * biases / total, rel=0.01):
        raise AssertionError("That is a percentage; give the share as a fraction (0..1).")
    if _close(value, biases, rel=0.01):
        raise AssertionError("That is the number of bias parameters; divide by the total.")
    vectors = sum(p.numel() for p in params.values() if p.ndim == 1)
    if _close(value, vectors / total, rel=0.01):
        raise AssertionError("You counted every 1-d tensor, LayerNorm weights included; BitFit "
                             "trains only the tensors whose name ends in 'bias'.")
    raise AssertionError(f"Expected {biases / total:.4f}, got {value}: sum p.numel() over "
                         "named_parameters() whose name ends in 'bias', divided by all parameters.")
