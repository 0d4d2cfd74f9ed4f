"""Lessons 05-06: forgetting measures, the SmolLM2 style fine-tune, plots and exercise checks."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import tlcourse
from tlcourse.checks.full_fine_tuning import (check_backbone_unchanged, check_best_epoch,
                                              check_training_state_mb)
from tlcourse.checks.lora import check_lora_params, check_lora_targets, check_merged_weight
from tlcourse.engine.config import get_profile
from tlcourse.methods.forgetting import other_task_correct
from tlcourse.report.tables import forgetting_table
from tlcourse.methods.generation import StyleConfig, finetune_style, style_blocks
from tlcourse.methods.lora import add_lora
from tlcourse.engine.memory import MemoryEstimate
from tlcourse.engine.models import classifier, is_decoder

matplotlib.use("Agg")
TINY = get_profile("smoke", train_size=32, eval_size=32, max_length=16, lm_block_size=16,
                   lm_train_blocks=8)


@pytest.fixture(scope="module")
def minilm_tok():
    return tlcourse.load_tokenizer("minilm-l6")


@pytest.fixture(scope="module")
def smol():
    return tlcourse.load_model("smollm2-135m"), tlcourse.load_tokenizer("smollm2-135m")


def test_other_task_correct_reads_topics_from_pretrained_features(minilm_tok):
    correct = other_task_correct(tlcourse.load_model("minilm-l6"), minilm_tok, profile=TINY)
    assert set(correct) == {"probe", "nearest neighbour"}
    assert all(set(c) <= {0.0, 1.0} and 0.4 < c.mean() <= 1 for c in correct.values())  # 5 topics: chance 0.2


def test_forgetting_table_reports_each_change_in_points_with_a_paired_interval():
    before = {"probe": np.array([1.0] * 18 + [0.0] * 2)}  # 90%
    table = forgetting_table(before, {"tuned": {"probe": np.array([1.0] * 17 + [0.0] * 3)},
                                      "same": {"probe": before["probe"]}})
    assert table.loc["probe", "tuned %"] == 85.0 and table.loc["probe", "change, tuned (pts)"].startswith("-5.0 (")
    assert table.loc["probe", "change, same (pts)"] == "+0.0 (+0.0 to +0.0)"


def test_style_blocks_have_the_profile_block_size(smol):
    _, tok = smol
    train, style, general = style_blocks(tok, StyleConfig(block_share=0.5, eval_blocks=3), TINY)
    assert len(train) == 4 and len(style) == 3 and len(general) == 3
    assert {len(ids) for ids in train["input_ids"]} == {16}


def test_finetune_style_trains_adapters_and_reports_before_after(smol):
    model, tok = smol
    config = StyleConfig(data="python_code", block_share=0.5, batch_size=4, eval_blocks=1,
                         max_new_tokens=2)
    short = get_profile("smoke", lm_block_size=8, lm_train_blocks=8)  # one step of 4 x 8 tokens
    run = finetune_style(config, model=model, tokenizer=tok, profile=short)
    assert list(run.perplexities.columns) == ["before", "after"]
    assert (run.perplexities > 1).all().all()
    assert run.samples.shape == (2, 2) and run.train_tokens == 4 * 8
    assert run.result.trainable_params < 0.02 * run.result.total_params
    assert any(p.abs().sum() > 0 for n, p in run.model.named_parameters() if "lora_B" in n)


def test_plots_draw(tmp_path):
    frame = pd.DataFrame({"method": ["probe", "full", "full"], "metric_accuracy": [0.7, 0.8, 0.82],
                          "wall_time_s": [10, 100, 110], "peak_memory_mb": [50, 300, 320],
                          "checkpoint_size_mb": [0.01, 87, 87]})
    fig = tlcourse.method_bars(frame, ["probe", "full"])
    assert len(fig.axes) == 4
    est = MemoryEstimate(86, 86, 172, 200, 100, batch_size=16, seq_len=64)
    ax = tlcourse.memory_breakdown({"full": est})
    assert len(ax.patches) == 5
    history = pd.DataFrame([{"step": 1, "epoch": 0.5, "train_loss": 0.7},
                            {"step": 2, "epoch": 1.0, "eval_loss": 0.6, "eval_accuracy": 0.7}])
    assert tlcourse.train_eval_curves(history).get_legend() is not None
    sweep = pd.DataFrame({"rank": [4, 1], "metric_accuracy": [0.8, 0.7], "trainable_params": [40, 10]})
    ax = tlcourse.rank_sweep(sweep, reference=0.82)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4"]


def test_training_state_check_names_the_missing_copies():
    model = torch.nn.Linear(1000, 1000)
    n = sum(p.numel() for p in model.parameters())
    assert check_training_state_mb(16 * n / 2**20, model).startswith("Correct")
    with pytest.raises(AssertionError, match="two moments"):
        check_training_state_mb(8 * n / 2**20, model)
    with pytest.raises(AssertionError, match="1e6"):
        check_training_state_mb(16 * n / 1e6, model)


def test_best_epoch_check_reads_the_validation_loss():
    history = pd.DataFrame([{"epoch": 1.0, "train_loss": 0.6}, {"epoch": 1.0, "eval_loss": 0.5},
                            {"epoch": 2.0, "train_loss": 0.1}, {"epoch": 2.0, "eval_loss": 0.7},
                            {"epoch": 3.0, "train_loss": 0.01}, {"epoch": 3.0, "eval_loss": 0.9}])
    assert check_best_epoch(1.0, history).startswith("Correct")
    with pytest.raises(AssertionError, match="training"):
        check_best_epoch(3.0, history)


def test_the_model_kind_comes_from_its_config_not_its_name(tmp_path):
    from transformers import GPT2Config
    assert is_decoder("smollm2-135m") and not is_decoder("minilm-l6")
    GPT2Config(n_layer=1, n_embd=8, n_head=2, architectures=["GPT2LMHeadModel"]).save_pretrained(tmp_path / "minilm")
    assert is_decoder(str(tmp_path / "minilm"))  # a decoder whatever its folder is called


def test_backbone_check_catches_a_trained_backbone():
    model = classifier("minilm-l6", 2)
    assert check_backbone_unchanged(model).startswith("Correct")
    with torch.no_grad():
        model.backbone.embeddings.word_embeddings.weight[0] += 1
    with pytest.raises(AssertionError, match="freeze"):
        check_backbone_unchanged(model)


def test_lora_checks():
    model = classifier("minilm-l6", 2)
    expected = 6 * 2 * 4 * (384 + 384)  # blocks x (query, value) x r x (d_in + d_out)
    assert check_lora_params(expected, model, r=4).startswith("Correct")
    with pytest.raises(AssertionError, match="two matrices"):
        check_lora_params(expected // 2, model, r=4)
    peft_model = add_lora(model, r=4)
    layer = peft_model.base_model.model.backbone.encoder.layer[0].attention.self.query
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()
    A, B, W = layer.lora_A["default"].weight, layer.lora_B["default"].weight, layer.base_layer.weight
    assert check_merged_weight(W + layer.scaling["default"] * B @ A, layer).startswith("Correct")
    with pytest.raises(AssertionError, match="scales"):
        check_merged_weight(W + B @ A, layer)
    assert check_lora_targets(peft_model, ["query", "value"], r=4).startswith("Correct")
    with pytest.raises(AssertionError, match="missing"):
        check_lora_targets(peft_model, ["query", "key", "value"], r=4)
