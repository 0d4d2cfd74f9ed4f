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
