"""Every inference site sends its inputs to the device the model reports (on a GPU machine, the GPU),
and no tensor is turned into numpy without first coming back to the CPU."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, BertModel, LlamaConfig,
                          LlamaForCausalLM)

import tlcourse
from tlcourse.lessons import bias
from tlcourse.methods import distill
from tlcourse.methods import features
from tlcourse.methods import forgetting
from tlcourse.methods import lm
from tlcourse.methods import zeroshot
from tlcourse.engine.data import tokenize
from tlcourse.engine.device import model_device, pick_device
from tlcourse.engine.train import evaluate

TEXTS = ["A fine film.", "Dull, long and loud, with a plot nobody could follow.", "Loved it."]


def guarded(model):
    """`model` on the course's device, with a check before every submodule's forward: each tensor
    argument lives where the model's weights do. Returns the model and a call counter."""
    model = model.to(pick_device())
    calls = [0]

    def check(module, args, kwargs):
        calls[0] += 1
        for t in [*args, *kwargs.values()]:
            if isinstance(t, torch.Tensor):
                assert t.device == model_device(model), f"{type(module).__name__} got a tensor on {t.device}"

    for m in model.modules():
        m.register_forward_pre_hook(check, with_kwargs=True)
    return model, calls


@pytest.fixture(scope="module")
def mini_tok():
    return tlcourse.load_tokenizer("minilm-l6")


def bert_config(tok):
    return BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, num_labels=2)


def tiny_llama(tok):
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2, intermediate_size=64,
                                        max_position_embeddings=256, pad_token_id=tok.pad_token_id))


def test_encoder_sites_embed_forgetting(mini_tok):
    encoder, calls = guarded(BertModel(bert_config(mini_tok)))
    assert features.embed(encoder, mini_tok, TEXTS, progress=False).shape == (3, 32)
    correct = forgetting.other_task_correct(encoder, mini_tok, tlcourse.get_profile("smoke"))
    assert set(correct) == {"probe", "nearest neighbour"}
    assert calls[0] > 0


def test_classifier_sites_bias_speed_evaluate(mini_tok):
    model, calls = guarded(BertForSequenceClassification(bert_config(mini_tok)))
    frame = pd.DataFrame({"text": TEXTS, "group": ["a", "b", "a"], "label": [1, 0, 1]})
    assert len(bias.group_scores(model, mini_tok, frame)) == 2
    assert distill.inference_speed(model, distill.text_batches(mini_tok, TEXTS), repeats=1) > 0
    data = tokenize(pd.DataFrame({"text": TEXTS, "label": [1, 0, 1]}).pipe(_dataset), mini_tok, 32)
    assert 0 <= evaluate(model, data, tokenizer=mini_tok)["accuracy"] <= 1
    assert calls[0] > 0


def test_decoder_sites_label_scores_perplexity(tok):
    model, calls = guarded(tiny_llama(tok))
    assert zeroshot.label_logprobs(model, tok, TEXTS, progress=False).shape == (3, 2)
    assert lm.perplexity(model, tok, TEXTS, max_length=16, progress=False) > 1
    assert len(lm.sample(model, tok, "A film", max_new_tokens=3)) == 1
    assert calls[0] > 0


def _dataset(frame):
    from datasets import Dataset
    return Dataset.from_pandas(frame, preserve_index=False)


def test_sorted_embedding_equals_one_text_at_a_time(mini_tok, monkeypatch):
    """Length-sorted batches with padding give each text the vector it gets alone (fp32)."""
    monkeypatch.setenv("TLCOURSE_PRECISION", "fp32")
    torch.manual_seed(0)
    encoder = BertModel(bert_config(mini_tok)).eval()
    batched = features.embed(encoder, mini_tok, TEXTS, batch_size=2, progress=False)  # (3, C)
    alone = [features.embed(encoder, mini_tok, [t], progress=False)[0] for t in TEXTS]
    torch.testing.assert_close(torch.as_tensor(batched), torch.as_tensor(np.stack(alone)), atol=1e-5, rtol=1e-4)


def test_no_numpy_without_cpu_first():
    """`.numpy()` on a tensor that may live on a GPU fails there: the package always says `.cpu()` first."""
    package = Path(tlcourse.__file__).parent
    bad = [f"{p.relative_to(package)}:{i}" for p in sorted(package.rglob("*.py"))
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.search(r"(?<!\.cpu\(\))\.numpy\(\)", line)]
    assert not bad, f"`.numpy()` without `.cpu()` before it at {bad}"
