"""The training loop on tiny random models and synthetic data (seconds, CPU)."""
import json
import math
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, models
from transformers import (BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM,
                          PreTrainedTokenizerFast)

from tlcourse.engine.checkpoint import CheckpointError, latest_checkpoint
from tlcourse.engine.failures import NonFiniteLossError
from tlcourse.engine.schedules import lr_curve
from tlcourse.engine.train import TrainConfig, evaluate, fit

VOCAB = 100


@pytest.fixture(scope="module")
def tokenizer():  # only its pad token is used: the data below is already token ids
    word_level = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="[PAD]")


def classification_data(n, seed=0):
    """Sequences of 3-15 token ids; the label says whether the first token is below 50 (learnable)."""
    g = torch.Generator().manual_seed(seed)
    rows = {"input_ids": [], "attention_mask": [], "label": [], "text": []}
    for _ in range(n):
        ids = torch.randint(2, VOCAB, (int(torch.randint(3, 16, (1,), generator=g)),), generator=g).tolist()
        rows["input_ids"].append(ids), rows["attention_mask"].append([1] * len(ids))
        rows["label"].append(int(ids[0] < 50)), rows["text"].append("not a tensor: dropped by fit")
    return Dataset.from_dict(rows)


def bert(dropout=0.1, seed=0):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32, num_labels=2,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config)


def config(**kw):
    base = dict(lr=1e-3, epochs=2, batch_size=4, log_every=1, progress=False, warmup_ratio=0.1, seed=3,
                mixed_precision="no")  # exact comparisons below; test_precision.py covers bf16
    return TrainConfig(**base | kw)


@pytest.fixture(scope="module")
def data():
    return classification_data(24, seed=1), classification_data(16, seed=2)


class Killed(Exception):
    pass


def kill_after(model, n_batches):
    """Make the model's forward raise on training batch n_batches + 1, as if the process died there."""
    forward, calls = model.forward, [0]

    def dying_forward(*args, **kwargs):
        if model.training:
            calls[0] += 1
            if calls[0] > n_batches:
                raise Killed
        return forward(*args, **kwargs)

    model.forward = dying_forward
    return model


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, data, tokenizer):
    train, dev = data  # 24 examples / batch 4 = 6 batches = 3 optimizer steps per epoch (grad_accum 2)
    cfg = dict(grad_accum=2, epochs=3, checkpoint_every=2, keep_checkpoints=5)
    full = bert()
    ref = fit(full, train, dev, config(checkpoint_dir=str(tmp_path / "a"), **cfg), tokenizer=tokenizer)
    # killed on batch 11 (epoch 1, mid optimizer step 6): the last checkpoint is step 4, 2 batches into epoch 1
    with pytest.raises(Killed):
        fit(kill_after(bert(), 10), train, dev, config(checkpoint_dir=str(tmp_path / "b"), **cfg), tokenizer=tokenizer)
    assert latest_checkpoint(tmp_path / "b").name == "step-0000004"
    resumed_model = bert(seed=123)  # different initial weights: all of them must come from the checkpoint
    resumed = fit(resumed_model, train, dev, config(checkpoint_dir=str(tmp_path / "b"), **cfg), tokenizer=tokenizer,
                  resume=True)
    assert_same_weights(full, resumed_model)
    assert resumed.steps == ref.steps == 9
    assert resumed.history == ref.history
    assert resumed.metrics == ref.metrics


def test_same_seed_gives_identical_runs(data, tokenizer):
    train, dev = data
    a, b = bert(), bert()
    ra = fit(a, train, dev, config(), tokenizer=tokenizer)
    rb = fit(b, train, dev, config(), tokenizer=tokenizer)
    assert ra.history == rb.history and ra.metrics == rb.metrics
    assert_same_weights(a, b)
    rc = fit(bert(), train, dev, config(seed=4), tokenizer=tokenizer)  # the seed does matter (dropout, order)
    assert rc.history != ra.history


def test_nonfinite_loss_stops_with_step_and_remedy(data, tokenizer):
    train, _ = data
    with pytest.raises(NonFiniteLossError) as e:
        fit(bert(), train, None, config(lr=1e30, max_grad_norm=None, warmup_ratio=0.0, epochs=3), tokenizer=tokenizer)
    message = str(e.value)
    assert "between optimizer steps" in message and "lower learning rate" in message
    first, last = (int(w) for w in message.split("optimizer steps ")[1].split(" (")[0].split(" and "))
    assert first == last and 2 <= last <= 9  # log_every=1: one step; a 1e30 update breaks the next ones


def test_checkpoint_with_one_changed_byte_is_refused(tmp_path, data, tokenizer):
    train, _ = data
    fit(bert(), train, None, config(epochs=1, checkpoint_dir=str(tmp_path)), tokenizer=tokenizer)
    weights = latest_checkpoint(tmp_path) / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2] ^= 1
    weights.write_bytes(raw)
    with pytest.raises(CheckpointError, match="sha256"):
        fit(bert(), train, None, config(epochs=2, checkpoint_dir=str(tmp_path)), tokenizer=tokenizer, resume=True)


def test_half_written_checkpoint_is_ignored(tmp_path, data, tokenizer):
    train, _ = data
    fit(bert(), train, None, config(epochs=1, checkpoint_dir=str(tmp_path)), tokenizer=tokenizer)
    done = latest_checkpoint(tmp_path)
    half = tmp_path / ".tmp-step-0000099-4242"  # a crash during a later save left this behind
    shutil.copytree(done, half)
    (half / "manifest.json").unlink()
    (half / "model.safetensors").write_bytes(b"trunc")
    assert latest_checkpoint(tmp_path) == done
    result = fit(bert(), train, None, config(epochs=2, checkpoint_dir=str(tmp_path)), tokenizer=tokenizer,
                 resume=True)
    assert result.steps == 12 and result.history[0]["step"] == 1  # history carried over from the checkpoint
    assert json.loads((latest_checkpoint(tmp_path) / "state.json").read_text())["step"] == 12


def test_early_stopping_stops(data, tokenizer):
    train, dev = data  # lr 0: the eval loss never improves, so patience 2 stops after the third evaluation
    result = fit(bert(), train, dev, config(lr=0.0, epochs=10, eval_every=2, early_stopping_patience=2),
                 tokenizer=tokenizer)
    assert result.stopped_early and result.steps == 6 and result.best_step == 2
    assert len([r for r in result.history if "eval_loss" in r]) == 3


def test_slanted_triangular_peaks_at_cut_frac(data, tokenizer):
    lrs = lr_curve("slanted", 100, lr=0.01)
    assert max(range(100), key=lrs.__getitem__) == 10  # cut_frac 0.1 of 100 steps
    assert lrs[0] == pytest.approx(0.01 / 32) and lrs[10] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:]))
    result = fit(bert(), data[0], None, config(schedule="slanted", epochs=10, lr=0.01), tokenizer=tokenizer)
    seen = [r["lr"] for r in result.history]  # row s: the lr after step s, i.e. the schedule at t = s
    assert max(range(60), key=seen.__getitem__) == 6 - 1


def test_grad_accumulation_2x4_matches_1x8(data, tokenizer):
    train, _ = data
    big, small = bert(dropout=0.0), bert(dropout=0.0)
    common = dict(epochs=2, group_by_length=False, lr=1e-3)
    fit(big, train, None, config(batch_size=8, **common), tokenizer=tokenizer)
    fit(small, train, None, config(batch_size=4, grad_accum=2, **common), tokenizer=tokenizer)
    moved = 0.0
    for (name, a), b, init in zip(big.named_parameters(), small.parameters(), bert(dropout=0.0).parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
        moved = max(moved, (a - init).abs().max().item())
    assert moved > 1e-3  # they trained, so the agreement means something


def test_history_frame_has_expected_columns(data, tokenizer):
    train, dev = data
    result = fit(bert(), train, dev, config(epochs=1, eval_every=3), tokenizer=tokenizer)
    frame = result.frame()
    assert {"step", "epoch", "train_loss", "lr", "grad_norm", "eval_loss", "eval_accuracy"} <= set(frame.columns)
    assert frame["train_loss"].notna().sum() == 6 and frame["eval_loss"].notna().sum() == 2
    assert result.trainable_params == result.total_params > 0 and result.examples_per_s > 0
    assert result.tokens_per_s > result.examples_per_s and result.mfu == "unknown"


def test_param_groups_freeze_and_discriminative_lrs(data, tokenizer):
    train, _ = data
    model = bert()
    for p in model.bert.parameters():
        p.requires_grad = False
    body_before = {k: v.clone() for k, v in model.bert.state_dict().items()}
    groups = [{"params": model.classifier.parameters(), "lr": 5e-3}]
    result = fit(model, train, None, config(epochs=1, schedule="constant"), param_groups=groups,
                 tokenizer=tokenizer)
    assert all(torch.equal(v, model.bert.state_dict()[k]) for k, v in body_before.items())
    assert result.trainable_params == 32 * 2 + 2 < result.total_params
    assert result.history[-1]["lr"] == 5e-3  # the group's lr, not config.lr


def test_causal_lm_loss_and_perplexity():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64))
    ids = torch.randint(0, 10, (24, 16))  # a 10-token language inside a 100-token vocabulary: easy to learn
    data = Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist(),
                              "labels": ids.tolist()})
    before = evaluate(model, data, batch_size=8)
    with torch.no_grad():
        own = model(input_ids=ids, labels=ids).loss.item()  # the model's own mean next-token loss
    assert before["loss"] == pytest.approx(own, rel=1e-5)
    assert before["perplexity"] == pytest.approx(math.exp(before["loss"]))
    result = fit(model, data, data, config(epochs=3, lr=1e-2, batch_size=8))
    assert result.metrics["loss"] < before["loss"] - 1.0


def test_results_json_round_trip_mean_and_std_over_seeds(tmp_path, data, tokenizer):
    from tlcourse.engine.records import load_results, write_result
    from tlcourse.report.tables import summarize

    train, dev = data
    for seed in (0, 1):
        result = fit(bert(), train, dev, config(epochs=1, seed=seed), tokenizer=tokenizer)
        path = write_result(tmp_path, method="full-ft", model="tiny-bert", data="synthetic", profile="smoke",
                            seed=seed, **result.summary())
        assert json.loads(path.read_text())["metrics"]["accuracy"] == result.metrics["accuracy"]
    frame = load_results(tmp_path)
    assert len(frame) == 2 and set(frame["seed"]) == {0, 1}
    table = summarize(frame, columns=["metric_loss"])
    assert len(table) == 1 and table["n_seeds"][0] == 2
    assert table["metric_loss_mean"][0] == pytest.approx(frame["metric_loss"].mean())
    assert table["metric_loss_std"][0] == pytest.approx(frame["metric_loss"].std()) and " ± " in table["metric_loss"][0]


def test_fit_ends_with_the_weights_of_its_best_evaluation(tokenizer):
    train, val = classification_data(24, seed=1), classification_data(16, seed=5)
    noisy = val.map(lambda ex, i: {"label": i % 2}, with_indices=True)  # unlearnable: accuracy wanders
    kept = fit(bert(seed=0), train, noisy, config(epochs=6, metric="accuracy"), tokenizer=tokenizer)
    model = bert(seed=0)
    restored = fit(model, train, noisy, config(epochs=6, metric="accuracy", restore_best=True), tokenizer=tokenizer)
    last = fit(bert(seed=0), train, noisy, config(epochs=6, metric="accuracy", restore_best=False), tokenizer=tokenizer)
    assert restored.restored_step == restored.best_step < restored.steps  # a later step did worse
    assert evaluate(model, noisy, tokenizer=tokenizer)["accuracy"] == pytest.approx(restored.best_metric)
    assert restored.metrics["accuracy"] == pytest.approx(restored.best_metric)
    final = [r["eval_accuracy"] for r in last.history if "eval_accuracy" in r][-1]
    assert last.metrics["accuracy"] == pytest.approx(final) and last.restored_step is None
    assert kept.best_epoch == kept.best_step / (kept.steps / 6)
