"""Lesson 01's result file: the tiny GPT against SmolLM2 on the same held-out blocks, and SmolLM2 on
real against shuffled text, written once and read back while it stands for the run."""
import json
import math

import pytest

import tlcourse
from tlcourse.lessons import llm_basics
from tlcourse.methods.pretrain import TinyGPTConfig, train_tiny_gpt


def test_record_pretraining_writes_per_block_losses_and_reads_them_back(tok, tmp_path, monkeypatch):
    profile = tlcourse.get_profile("smoke")
    run = train_tiny_gpt(TinyGPTConfig(n_layer=1, n_embd=32, n_head=2, epochs=1, batch_size=4, eval_blocks=4),
                         tok, profile)
    smol = tlcourse.load_model("smollm2-135m")
    texts = {"real": ["Stocks fell as investors worried about rates."],
             "shuffled": ["rates. about as investors Stocks worried fell"]}
    metrics = llm_basics.record_pretraining(run, smol, tok, texts, profile, tmp_path)
    assert metrics["pretrained_ppl"] < metrics["scratch_ppl"] and metrics["real_ppl"] < metrics["shuffled_ppl"]
    record = json.loads(next(tmp_path.glob("pretraining__*.json")).read_text())
    assert len(record["block_loss_scratch"]) == len(record["block_loss_pretrained"]) == len(run.held_out)
    assert math.exp(sum(record["block_loss_scratch"]) / len(run.held_out)) == pytest.approx(metrics["scratch_ppl"])
    monkeypatch.setattr(llm_basics, "block_losses", lambda *args: pytest.fail("scored again"))
    assert llm_basics.record_pretraining(run, smol, tok, texts, profile, tmp_path) == metrics
