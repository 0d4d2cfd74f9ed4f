"""Domain adaptation and the bias probe: binary task, continued pretraining, tables, checks."""
import math

import pytest
import torch

import tlcourse
from tlcourse.engine.config import RESULTS, ROOT
from tlcourse.lessons import bias
from tlcourse.lessons import domain_adaptation
from tlcourse.methods import adapt as domain
from tlcourse.checks.distillation import check_entropy_bits, check_soft_targets
from tlcourse.checks.domain_adaptation import check_binary_labels, check_gap, check_ppl_drop


def test_binary_drops_neutral_and_maps_labels():
    raw = tlcourse.load_dataset("drug_reviews")
    ds = domain.binary(raw)
    for split in raw:
        assert set(ds[split]["label"]) == {0, 1}
        assert len(ds[split]) == sum(label != 1 for label in raw[split]["label"])
    assert ds["train"].features["label"].names == ["negative", "positive"]
    check_binary_labels(ds)


def _tiny_llama(tok):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def test_continued_pretraining_lowers_domain_perplexity():
    from tlcourse.methods.lm import block_losses
    from tlcourse.methods.lm import pack_blocks
    tok = tlcourse.load_tokenizer("smollm2-135m")
    model = _tiny_llama(tok)
    texts = ["Shares rose as profits beat forecasts, the bank said."] * 20
    held_out = pack_blocks(texts[:4], tok, 16)
    before = math.exp(block_losses(model, held_out).mean())
    result = domain.continue_pretraining(model, tok, texts, domain.DAPTConfig(steps=15, lr=3e-3,
                                                                             batch_size=4, block_size=16))
    assert result.steps == 15 and math.exp(block_losses(model, held_out).mean()) < 0.5 * before


def test_dapt_result_keeps_block_losses_and_its_change_has_an_interval(tmp_path):
    record = domain_adaptation.run_dapt(out_dir=tmp_path)
    for side in ("before", "after"):
        assert {len(record[side][d]) for d in ("business", "news")} == {domain_adaptation.HELD_OUT_BLOCKS}
    change, low, high = domain_adaptation.perplexity_change(record, "business")
    ratio = record["metrics"]["business_ppl_after"] / record["metrics"]["business_ppl_before"]
    assert change == pytest.approx(100 * (ratio - 1)) and low <= change <= high
    assert domain_adaptation.run_dapt(out_dir=tmp_path)["wall_time_s"] == record["wall_time_s"]  # read back


def test_shift_result_scores_the_same_drug_reviews_at_both_lengths(tmp_path):
    record = domain_adaptation.run_shift(out_dir=tmp_path)
    labels = domain_adaptation.target_test_labels()
    for column, metric in (("test_correct", "accuracy"), ("test_correct_short", "accuracy_short")):
        assert len(record[column]) == len(labels)
        assert record["metrics"][metric] == pytest.approx(sum(record[column]) / len(labels))
    assert record["lengths"]["long"] == domain_adaptation.LENGTH_FACTOR * record["lengths"]["short"]


def test_head_only_control_trains_the_masked_lm_head_alone(tmp_path):
    record = domain_adaptation.head_only_control(domain_adaptation.TAPTConfig(head_steps=2, steps=2), out_dir=tmp_path)
    assert 0 < record["trainable_params"] < 0.1 * record["total_params"]  # the head's transform and bias
    assert record["after"]["drug reviews"] != record["before"]["drug reviews"] and record["steps"] == 2


def test_masked_pretraining_learns_to_restore_the_hidden_tokens():
    from transformers import BertConfig, BertForMaskedLM
    tok = tlcourse.load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64))
    result = domain.continue_pretraining(model, tok, ["the tablets made me dizzy all day"] * 16,
                                         domain.DAPTConfig(steps=30, lr=3e-3, batch_size=8, block_size=16),
                                         masked=True)
    losses = [row["train_loss"] for row in result.history if "train_loss" in row]  # one row per step
    assert result.steps == 30 and len(losses) == 30
    assert losses[0] > 0.8 * math.log(tok.vocab_size)  # a random model guesses among the whole vocabulary
    assert sum(losses[-5:]) / 5 < 0.9 * losses[0]  # 30 steps on one sentence: about 0.8 here


def test_macro_f1_is_read_from_per_item_correctness():
    labels = [1, 1, 1, 0]
    assert domain_adaptation.binary_macro_f1([1, 1, 1, 0], labels) == pytest.approx((6 / 7 + 0) / 2)  # always "positive"
    assert domain_adaptation.binary_macro_f1([1, 1, 1, 1], labels) == 1.0


def test_masked_lm_loss_uses_the_same_masks_every_call():
    from transformers import BertConfig, BertForMaskedLM
    tok = tlcourse.load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64))
    texts = ["the tablets made me dizzy all day and I could not sleep"] * 12
    first = domain.masked_lm_loss(model, tok, texts, 16)
    torch.randn(3)  # the global generator moves on; the masks must not
    assert domain.masked_lm_loss(model, tok, texts, 16) == first
    assert domain.masked_lm_loss(model, tok, texts, 16, seed=1) != first
    assert first > 0.8 * math.log(tok.vocab_size)  # a random model: about ln(vocabulary)


def test_group_scores_and_gap():
    model, tok = tlcourse.load_model("minilm-l6"), tlcourse.load_tokenizer("minilm-l6")
    from tlcourse.engine.models import MeanPoolClassifier
    clf = MeanPoolClassifier(model, 2)
    frame = bias.sentences(("The {group} nurse was {adj}.",), {1: ("kind",), 0: ("rude",)}, ("young", "old"))
    scores = bias.group_scores(clf, tok, frame)
    assert list(scores.index) == ["young", "old"] and scores.between(0, 1).all()
    assert bias.score_gap(scores) == pytest.approx(abs(scores["young"] - scores["old"]))
    check_gap(bias.score_gap(scores), scores)


@pytest.mark.parametrize("check, good, bad, message", [
    (check_ppl_drop, ((20 - 15) / 20, 20, 15), (25.0, 20, 15), "percent"),
    (check_entropy_bits, (1.0, [0.5, 0.5]), (0.6931, [0.5, 0.5]), "nats"),
])
def test_checks_accept_right_and_explain_wrong(check, good, bad, message):
    assert check(*good).startswith("Correct")
    with pytest.raises(AssertionError, match=message):
        check(*bad)


def test_soft_target_check_spots_the_missing_temperature():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert check_soft_targets((logits / 3).softmax(-1), logits, 3).startswith("Correct")
    with pytest.raises(AssertionError, match="T=1"):
        check_soft_targets(logits.softmax(-1), logits, 3)


def test_run_target_returns_what_the_committed_smoke_runs_wrote_for_both_encoders():
    """run_target in smoke (lesson 08 runs it with the encoder adapted at TAPTConfig(4, 4)): one record per
    method, encoder and seed, each read back from its committed result file, none written again, every
    record scored on the same test reviews."""
    profile = tlcourse.get_profile("smoke")
    adapted = domain_adaptation.adapted_folder(domain_adaptation.TAPTConfig(head_steps=4, steps=4),
                                               domain_adaptation.target_profile(profile))
    files = sorted((RESULTS / "smoke").glob("*custom-*__smoke__seed*.json"))
    before = {f: f.stat().st_mtime_ns for f in files}
    records = domain_adaptation.run_target(adapted.relative_to(ROOT).as_posix(), seeds=profile.seeds)
    assert {(r["method"], r["model"]) for r in records} == {("majority", "minilm-l6"), ("full", "minilm-l6"),
                                                             ("full", adapted.relative_to(ROOT).as_posix())}
    assert len(records) == 3 * len(profile.seeds)
    assert len({len(r["test_correct"]) for r in records}) == 1, "the same test reviews for every run"
    assert {f: f.stat().st_mtime_ns for f in files} == before, "read back, not written again"
