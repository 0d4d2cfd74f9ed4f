"""engine.lm_loss: the loss on labelled positions alone is the loss transformers computes, with the
same gradients, with and without LoRA; the training loop uses it and falls back elsewhere."""
import pytest
import torch

import tlcourse
from tlcourse.engine.lm_loss import labelled_loss
from tlcourse.engine.train import fit, TrainConfig
from tlcourse.methods.lora import add_lora, ALL_LINEAR
from tlcourse.methods.sft import collator, encode_pairs


def _batch(tok, pairs, answer_only=True):
    return collator(tok)(list(encode_pairs(tok, *zip(*pairs), answer_only=answer_only)))  # (B, T) each, padded


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("answer_only", [True, False])
def test_same_loss_and_gradients_as_the_model_forward(tok, tiny, pairs, lora, answer_only):
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0) if lora else tiny
    batch = _batch(tok, pairs, answer_only)
    assert (batch["labels"] == -100).any()  # padding (and the prompt) carry no loss
    theirs = model(**batch).loss
    theirs.backward()
    expected = _grads(model)
    model.zero_grad()
    ours = labelled_loss(model, batch)
    ours.backward()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6, msg=name)


def test_not_used_where_it_does_not_apply(tok, tiny, pairs):
    batch = _batch(tok, pairs)
    assert labelled_loss(tiny, {"input_ids": batch["input_ids"], "labels": batch["labels"][:, 0]}) is None
    assert labelled_loss(tiny, batch | {"chosen_ids": batch["input_ids"]}) is None  # a preference pair's batch
    bert = tlcourse.load_model("minilm-l6", task="base")
    assert labelled_loss(bert, batch) is None


def test_fit_trains_a_causal_lm_on_the_labelled_loss(tok, tiny, monkeypatch, pairs):
    calls = []
    monkeypatch.setattr("tlcourse.engine.train.labelled_loss",
                        lambda model, batch: calls.append(1) or labelled_loss(model, batch))
    data = encode_pairs(tok, *zip(*pairs))
    result = fit(tiny, data, None, TrainConfig(lr=1e-3, max_steps=2, batch_size=3, progress=False),
                 collate_fn=collator(tok))
    assert len(calls) == 2 and result.train_loss > 0

