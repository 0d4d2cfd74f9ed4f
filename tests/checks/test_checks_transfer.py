"""Lessons 03-04: the head on cached features, the exercise checks, and the plots they use."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from tlcourse.report import plots
from tlcourse.checks.feature_extraction import (check_best_layer, check_concat_last_four,
                                                check_points_per_million, points_per_million)
from tlcourse.checks.partial_fine_tuning import (check_bias_share, check_block_rates,
                                                 check_trainable_count)
from tlcourse.methods.features import train_head
from tlcourse.methods.freezing import discriminative_groups, freeze
from tlcourse.engine.params import count_params

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def tiny():
    """A 4-block BERT of width 32 behind the course's mean-pooling head: random, offline, fast."""
    from transformers import BertConfig, BertModel
    from tlcourse.engine.models import MeanPoolClassifier
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    return MeanPoolClassifier(BertModel(config, add_pooling_layer=False), num_labels=2)


def blobs(n=200, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, dim)) + 1.5 * y[:, None], y  # (N, C), (N,)


def test_train_head_learns_separable_features():
    X, y = blobs()
    Xt, yt = blobs(seed=1)
    linear = train_head(X, y, Xt, yt, epochs=20)
    assert linear.accuracy > 0.9 and linear.trainable_params == 16 * 2 + 2
    assert linear.losses[-1] < linear.losses[0]
    mlp = train_head(X, y, Xt, yt, hidden=8, epochs=20)
    assert mlp.accuracy > 0.9 and mlp.trainable_params == 16 * 8 + 8 + 8 * 2 + 2


def test_best_layer_check():
    accs = [0.6, 0.7, 0.8, 0.75]
    assert check_best_layer(2, accs).startswith("Correct")
    with pytest.raises(AssertionError, match="Off by one"):
        check_best_layer(3, accs)
    with pytest.raises(AssertionError, match="worst"):
        check_best_layer(0, accs)


def test_concat_last_four_check():
    layers = np.random.default_rng(0).normal(size=(7, 5, 3))  # (L+1, N, C)
    assert check_concat_last_four(np.concatenate(list(layers[-4:]), -1), layers).startswith("Correct")
    with pytest.raises(AssertionError, match="axis=-1"):
        check_concat_last_four(np.concatenate(list(layers[-4:]), 0), layers)
    with pytest.raises(AssertionError, match="first"):
        check_concat_last_four(np.concatenate(list(layers[:4]), -1), layers)


def test_points_per_million_check():
    frame = pd.DataFrame({"method": ["majority", "probe", "probe", "full"],
                          "metric_accuracy": [0.5, 0.7, 0.8, 0.9],
                          "trainable_params": [0, 1000, 1000, 2_000_000]})
    expected = {"probe": 100 * 0.25 / 1e-3, "full": 100 * 0.4 / 2}
    assert points_per_million(frame) == pytest.approx(expected)
    assert check_points_per_million(expected, frame).startswith("Correct")
    with pytest.raises(AssertionError, match="fraction"):
        check_points_per_million({k: v / 100 for k, v in expected.items()}, frame)
    with pytest.raises(AssertionError, match="Missing"):
        check_points_per_million({"probe": expected["probe"]}, frame)
    with pytest.raises(AssertionError, match="majority"):
        check_points_per_million({"probe": 100 * 0.75 / 1e-3, "full": 100 * 0.9 / 2}, frame)


def test_trainable_count_check(tiny):
    expected = count_params(freeze(tiny, 2))[0]
    assert check_trainable_count(expected, tiny, 2).startswith("Correct")
    with pytest.raises(AssertionError, match="head"):
        check_trainable_count(expected - (32 * 2 + 2), tiny, 2)
    with pytest.raises(AssertionError, match="LayerNorm"):
        check_trainable_count(expected - 2 * 4 * 32, tiny, 2)


def test_block_rates_check():
    right = [1e-4 / 2.6 ** (5 - i) for i in range(6)]
    assert check_block_rates(right, 1e-4, 2.6, 6).startswith("Correct")
    with pytest.raises(AssertionError, match="Reversed"):
        check_block_rates(right[::-1], 1e-4, 2.6, 6)
    with pytest.raises(AssertionError, match="Off by one"):
        check_block_rates([r / 2.6 for r in right], 1e-4, 2.6, 6)


def test_bias_share_check(tiny):
    params = dict(tiny.named_parameters())
    share = sum(p.numel() for n, p in params.items() if n.endswith("bias")) / sum(
        p.numel() for p in params.values())
    assert check_bias_share(share, tiny).startswith("Correct")
    with pytest.raises(AssertionError, match="percentage"):
        check_bias_share(100 * share, tiny)


def test_plots_draw(tiny):
    plots.layer_probe_curve([0.6, 0.7, 0.65], floor=0.5)
    frame = pd.DataFrame({"method": ["head", "full", "full"], "metric_accuracy": [0.6, 0.8, 0.82],
                          "trainable_params": [770, 10**6, 10**6]})
    ax = plots.accuracy_vs_params(frame, ["head", "full"])
    assert ax.get_xscale() == "log"
    plots.lr_curves({"constant": [1.0] * 5})
    tiny.requires_grad_(True)
    ax = plots.layer_learning_rates(tiny, discriminative_groups(tiny, lr=1e-4, head_lr=1e-3))
    heights = [bar.get_height() for bar in ax.patches]  # emb, block 0..3, head
    assert heights[-1] == pytest.approx(1e-3) and heights[-2] == pytest.approx(1e-4)
    assert heights[0] < heights[1] < heights[-2]


def test_a_passing_check_shows_its_line_once_in_a_notebook(capsys):
    from IPython.core.interactiveshell import InteractiveShell
    from tlcourse.checks.feedback import correct
    passed = correct("the best layer is 2")
    shown, _ = InteractiveShell.instance().display_formatter.format(passed)  # what Out[] would show
    assert capsys.readouterr().out == "Correct: the best layer is 2\n" and shown == {}
    assert passed == "Correct: the best layer is 2"
