"""Exercise checks for lesson 03 (feature extraction)."""
import numpy as np

from .feedback import close, correct


def check_best_layer(layer, accuracies) -> str:
    """`layer` should be the index of the highest probe accuracy (0 = token embeddings)."""
    acc = np.asarray(accuracies, dtype=float)
    best = int(acc.argmax())
    if isinstance(layer, (float, np.floating)) and not float(layer).is_integer():
        raise AssertionError(f"{layer} looks like an accuracy; give the layer's index (an integer "
                             f"from 0 to {len(acc) - 1}), e.g. with np.argmax.")
    if layer == best:
        if best == 0:
            return correct(f"the token embeddings themselves are best here ({acc[0]:.1%})")
        return correct(f"layer {best} ({acc[best]:.1%}) beats the token embeddings "
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
        return correct(f"{X.shape[0]} texts x {X.shape[1]} features: the last four layers side by side")
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
    wrong = [m for m in expected if not close(value[m], expected[m], rel=0.01)]
    if not wrong:
        best = max(expected, key=expected.get)
        return correct(f"{best} buys the most accuracy per trainable parameter "
                       f"({expected[best]:,.0f} points per million)")
    m = wrong[0]
    ratio = float(value[m]) / expected[m] if expected[m] else float("nan")
    hints = {1e-6: "per parameter instead of per million: divide trainable_params by 1e6.",
             1e-2: "a fraction instead of points: multiply the accuracy gain by 100.",
             1e-8: "a fraction per parameter: use points (x 100) per million parameters (/ 1e6).",
             1e6: "times a million instead of per million: divide trainable_params by 1e6."}
    for factor, hint in hints.items():
        if close(ratio, factor, rel=0.02):
            raise AssertionError(f"{m}: off by a factor of {ratio:.0e}: {hint}")
    means = frame[frame.method == m][["metric_accuracy", "trainable_params"]].mean()
    if close(value[m], 100 * means.metric_accuracy / (means.trainable_params / 1e6), rel=0.01):
        raise AssertionError(f"{m}: subtract the majority-class accuracy first: only the points a "
                             "method gains over always answering the common label count.")
    raise AssertionError(f"{m}: expected {expected[m]:,.1f}, got {value[m]}. Average over seeds "
                         "per method, subtract the majority accuracy, times 100, divided by "
                         "trainable_params / 1e6.")
