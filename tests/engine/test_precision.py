"""Precision: one rule (device.precision_and_reason), bf16 autocast training that learns what fp32 learns."""
import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from tlcourse.engine import device
from tlcourse.engine.train import TrainConfig, evaluate, fit


def test_auto_means_bf16_exactly_where_the_cpu_computes_it(monkeypatch):
    monkeypatch.delenv("TLCOURSE_PRECISION", raising=False)
    for native, expected in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(device, "cpu_has_native_bf16", lambda native=native: native)
        assert device.mixed_precision("auto", "cpu") == expected
    assert device.mixed_precision("auto", "mps") == "no"
    assert device.mixed_precision("fp16", "cpu") == "fp16"  # an explicit setting is kept


def test_the_environment_forces_a_precision_and_a_typo_says_what_to_use(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("TLCOURSE_PRECISION", "fp32")
    assert device.mixed_precision("auto", "cpu") == "no" and "forces" in device.describe_precision("auto")
    assert isinstance(device.autocast("cpu"), type(device.nullcontext()))
    monkeypatch.setenv("TLCOURSE_PRECISION", "float32")
    with pytest.raises(ValueError, match="fp32, bf16, fp16"):
        device.mixed_precision("auto", "cpu")


def _task(n, seed):
    """Token-id sequences whose label is whether the first token is below 50: learnable in seconds."""
    g = torch.Generator().manual_seed(seed)
    ids = [torch.randint(2, 100, (int(torch.randint(4, 12, (1,), generator=g)),), generator=g).tolist()
           for _ in range(n)]
    return Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids],
                              "label": [int(x[0] < 50) for x in ids]})


def test_bf16_training_reaches_fp32_accuracy():
    """Tolerance: 5 points of accuracy on 200 validation sequences, and both well above chance."""
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1},
                                                                              unk_token="[UNK]")),
                                  pad_token="[PAD]")
    train, valid = _task(400, 0), _task(200, 1)
    accuracy = {}
    for precision in ("no", "bf16"):
        torch.manual_seed(0)
        model = BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                                         num_attention_heads=2, intermediate_size=64,
                                                         max_position_embeddings=16, num_labels=2))
        result = fit(model, train, None, TrainConfig(lr=3e-3, epochs=6, batch_size=16, mixed_precision=precision,
                                                     progress=False, seed=0), tokenizer=tok)
        assert result.precision == precision
        accuracy[precision] = evaluate(model, valid, tokenizer=tok)["accuracy"]
    assert min(accuracy.values()) > 0.8, accuracy
    assert abs(accuracy["bf16"] - accuracy["no"]) <= 0.05, accuracy
