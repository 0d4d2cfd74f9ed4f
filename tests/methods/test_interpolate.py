"""WiSE-FT and model soups: the ends are the two models, a LoRA fine-tune's interpolation is its scaled
adapter (peft's own scale), and a soup is the mean of the weights."""
import copy

import pytest
import torch

from tlcourse.methods import interpolate, lora


@pytest.fixture
def pair(tiny):
    """The tiny base and a full fine-tune of it (every weight moved)."""
    tuned = copy.deepcopy(tiny)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return tiny, tuned


def test_the_ends_are_the_two_models_and_the_middle_is_neither(pair):
    base, tuned = pair
    ids = torch.randint(0, base.config.vocab_size, (2, 10))
    assert interpolate.max_logit_gap(interpolate.interpolated(base, tuned, 0.0), base, ids) == 0
    assert interpolate.max_logit_gap(interpolate.interpolated(base, tuned, 1.0), tuned, ids) < 1e-5
    middle = interpolate.interpolated(base, tuned, 0.5)
    assert min(interpolate.max_logit_gap(middle, base, ids), interpolate.max_logit_gap(middle, tuned, ids)) > 1e-3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate.interpolated(base, tuned, 1.5)


def test_interpolating_a_merged_lora_fine_tune_is_scaling_its_adapter(tiny):
    adapted = lora.add_lora(copy.deepcopy(tiny), r=4, dropout=0.0, target_modules=lora.ALL_LINEAR)
    with torch.no_grad():
        for name, p in adapted.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    tuned = lora.merge(copy.deepcopy(adapted))
    ids = torch.randint(0, tiny.config.vocab_size, (2, 10))
    for layer in adapted.modules():
        if hasattr(layer, "set_scale"):
            layer.set_scale("default", 0.3)
    assert interpolate.max_logit_gap(interpolate.interpolated(tiny, tuned, 0.3), adapted, ids) < 1e-4


def test_a_soup_is_the_mean_of_the_weights_and_needs_models_of_one_shape(pair, tiny):
    base, tuned = pair
    soup = interpolate.souped([base, tuned])
    name, weight = next(iter(soup.named_parameters()))
    assert torch.allclose(weight, (dict(base.named_parameters())[name] + dict(tuned.named_parameters())[name]) / 2)
    wider = type(tiny)(copy.deepcopy(tiny.config).__class__(**{**tiny.config.to_dict(), "intermediate_size": 96}))
    with pytest.raises(ValueError, match="same weights"):
        interpolate.souped([base, wider])
    with pytest.raises(ValueError, match="at least two"):
        interpolate.souped([base])
