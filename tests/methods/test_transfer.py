"""Feature extraction and freezing on the real MiniLM encoder."""
import numpy as np
import pytest

import tlcourse
from tlcourse.methods.features import embed, layer_probe, majority_accuracy, probe_accuracy
from tlcourse.engine.models import mean_pool
from tlcourse.engine.params import count_params
from tlcourse.methods.freezing import bitfit, blocks, discriminative_groups, freeze, unfreezing_stages


@pytest.fixture(scope="module")
def classifier():
    return tlcourse.load_model("minilm-l6", task="classification", num_labels=2)


def test_mean_pool_ignores_padding():
    import torch
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])  # (B=1, T=3, C=2)
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 2.0]]


def test_freeze_levels_grow_monotonically(classifier):
    head = count_params(freeze(classifier, train_blocks=0))[0]
    assert head == 384 * 2 + 2  # the new classifier only
    two = count_params(freeze(classifier, train_blocks=2))[0]
    per_block = sum(p.numel() for p in blocks(classifier)[-1].parameters())
    assert two == head + 2 * per_block
    trainable, total = count_params(bitfit(classifier))
    assert head < trainable < 0.01 * total


def test_discriminative_rates_fall_with_depth(classifier):
    for p in classifier.parameters():
        p.requires_grad = True
    groups = discriminative_groups(classifier, lr=1e-4, decay=2.6, head_lr=1e-3)
    rates = sorted({g["lr"] for g in groups}, reverse=True)
    assert rates[:2] == [1e-3, 1e-4] and len(rates) == len(blocks(classifier)) + 2
    assert np.allclose(np.array(rates[1:-1]) / np.array(rates[2:]), 2.6)
    assert sum(len(g["params"]) for g in groups) == len(list(classifier.parameters()))
    assert unfreezing_stages(classifier, 4) == [0, 2, 4, 6]


def test_frozen_features_beat_the_majority_class():
    ds = tlcourse.load_dataset("rotten_tomatoes")
    train, test = ds["train"].select(range(600)), ds["test"].select(range(400))
    model, tok = tlcourse.load_model("minilm-l6"), tlcourse.load_tokenizer("minilm-l6")
    a = embed(model, tok, train["text"], max_length=48, layers="all", progress=False)
    b = embed(model, tok, test["text"], max_length=48, layers="all", progress=False)
    assert a.shape == (7, 600, 384)
    accs = layer_probe(a, train["label"], b, test["label"])
    floor = majority_accuracy(train["label"], test["label"])
    best = probe_accuracy(a[-1], train["label"], b[-1], test["label"])
    assert best > floor + 0.1, (best, accs, floor)  # sentence features carry sentiment
    assert accs[-1] > accs[0]  # the blocks add something the token embeddings lack


def test_probe_params_count_what_the_probe_stores():
    """Binary logistic regression keeps one weight row: 384 + 1, not the 2 x 385 of a softmax head."""
    from tlcourse.methods.features import probe, probe_params
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 384))
    assert probe_params(probe(X, rng.integers(0, 2, 60), C=1.0)) == 384 + 1
    assert probe_params(probe(X, np.arange(60) % 3, C=1.0)) == 3 * (384 + 1)


def test_committed_probe_results_count_one_weight_row():
    """The method grid's probe files and the lesson's printed count come from the same function:
    a binary probe on MiniLM's 384-d features trains 385 numbers."""
    import json
    from tlcourse.engine.config import RESULTS
    counts = {p.name: json.loads(p.read_text())["trainable_params"] for p in RESULTS.glob("**/probe*__minilm-l6__*.json")}
    assert counts and set(counts.values()) == {385}, {n: c for n, c in counts.items() if c != 385}


def test_chosen_rates_say_where_the_choice_sits_in_the_grid():
    """Lesson 04's question about a rate beyond `last2`'s grid reads the grid, not a typed rate."""
    import pandas as pd
    from tlcourse.experiments.method_grid import GRID, chosen_rates
    grid = GRID["last2"][0]
    frame = pd.DataFrame({"method": ["last2", "last2", "full", "majority"],
                          "lr": [max(grid), max(grid), sorted(GRID["full"][0])[1], None]})
    lines = chosen_rates(frame, ["last2", "full", "majority"])
    assert lines[0].startswith(f"last2: lr {max(grid):g}, the top of its grid (candidates ")
    assert "inside its grid" in lines[1] and len(lines) == 2  # majority has no rate
    inside = frame.assign(lr=[sorted(grid)[-2]] * 2 + [None, None])
    assert chosen_rates(inside, ["last2"]) == [f"last2: lr {sorted(grid)[-2]:g}, inside its grid (candidates "
                                               + ", ".join(f"{g:g}" for g in grid) + ")"]
