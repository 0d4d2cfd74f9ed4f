"""The bias experiment: the two training sets, the paired gap difference, and result files read back."""
import json

import numpy as np
import pytest

import tlcourse
from tlcourse.lessons import bias
from tlcourse.engine.config import get_profile
from tlcourse.engine.records import write_json

PROBE = bias.sentences(bias.PROBE_TEMPLATES, bias.PROBE_ADJECTIVES)


def _neutral(frame):
    return frame[frame.kind == "neutral"]


def _complete(frame) -> bool:
    """Every template x adjective holds every group once, all with the adjective's label."""
    cells = frame.groupby(["template", "adjective"])
    return all(sorted(g) == sorted(bias.GROUPS) for _, g in cells.group) and bool((cells.label.nunique() == 1).all())


def test_both_sets_hold_the_same_texts_labelled_by_their_rule():
    sets, share = bias.curation_sets()
    (u_train, u_val), (c_train, c_val) = sets["uncurated"], sets["curated"]
    assert list(u_train.text) == list(c_train.text) and list(u_val.text) == list(c_val.text)
    assert share == pytest.approx(11 / 12)  # 3 training templates x 4 neutral words per group
    for frame in (u_train, u_val, c_train, c_val):
        sentiment = frame[frame.kind == "sentiment"]
        assert _complete(sentiment)
        assert (sentiment.label == sentiment.adjective.isin(bias.TRAIN_ADJECTIVES[1])).all()
    assert set(_neutral(c_train).groupby("group").label.mean()) == {0.5}
    assert set(_neutral(c_val).groupby("group").label.mean()) == {0.5}


@pytest.mark.parametrize("share", [0.9, 0.75, 0.6])
def test_uncurated_groups_carry_their_label_in_the_stated_share(share):
    sets, achieved = bias.curation_sets(share, seed=3)
    for frame in sets["uncurated"]:
        neutral = _neutral(frame)
        own = neutral.group.isin(bias.FAVOURED).astype(int)
        for group, rows in neutral.groupby("group"):
            carried = int((rows.label == own[rows.index]).sum())
            assert abs(carried - share * len(rows)) <= 1, group
    per_group = len(_neutral(sets["uncurated"][0])) / len(bias.GROUPS)
    assert abs(achieved - share) <= 1 / per_group


def test_the_seed_draws_the_minority_sentences_and_nothing_else():
    a, b, again = (bias.curation_sets(seed=s)[0]["uncurated"][0] for s in (0, 1, 0))
    assert a.equals(again)
    differs = a.label != b.label
    assert differs.any() and (a.kind[differs] == "neutral").all()


def test_validation_is_a_template_of_its_own():
    train, validation = bias.curation_sets()[0]["uncurated"]
    assert set(validation.template) == {bias.TRAIN_TEMPLATES[-1]}
    assert not set(validation.template) & set(train.template)
    assert not set(validation.template) & set(PROBE.template)
    assert not set(bias.TRAIN_TEMPLATES) & set(bias.PROBE_TEMPLATES)


def _synthetic(gap: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Probe probabilities whose group means differ by exactly `gap` (without noise): each frame its
    own level, each group a fixed offset."""
    rng = np.random.default_rng(seed)
    frames = PROBE.groupby(["template", "adjective"], sort=False).ngroup().to_numpy()
    level = rng.uniform(0.2, 0.6, frames.max() + 1)[frames]
    offset = PROBE.group.map(dict(zip(bias.GROUPS, np.linspace(0, gap, len(bias.GROUPS))))).to_numpy()
    return level + offset + rng.normal(0, noise, len(PROBE))


def test_gap_bootstrap_recovers_a_known_gap():
    mean, low, high, _ = bias.gap_bootstrap(PROBE, _synthetic(0.2), _synthetic(0.0))
    assert (mean, low, high) == pytest.approx((0.2, 0.2, 0.2))  # frame levels cancel in every resample
    mean, low, high, _ = bias.gap_bootstrap(PROBE, _synthetic(0.2, 0.02), _synthetic(0.0, 0.02, seed=1))
    assert low <= mean <= high and mean == pytest.approx(0.2, abs=0.03) and high - low < 0.1


def _write_runs(folder, p_by_condition: dict):
    for condition, ps in p_by_condition.items():
        for seed, p in enumerate(ps):
            gap = bias.score_gap(bias.scores_of(PROBE, p))
            write_json(folder / f"bias-{condition}__seed{seed}.json",
                       {"method": f"bias-{condition}", "model": bias.MODEL, "data": bias.DATA, "profile": "smoke",
                        "seed": seed, "metrics": {"gap": gap, "val_accuracy": 0.8}, "lr": 1e-4,
                        "probe_p": list(p)})


def test_gap_difference_and_table_read_the_result_files(tmp_path):
    _write_runs(tmp_path, {"uncurated": [_synthetic(0.1), _synthetic(0.3)], "curated": [_synthetic(0.0)]})
    # seeds averaged per sentence first: the two uncurated seeds make a gap of 0.2; resampling the seeds
    # spans their own gaps, 0.1 and 0.3
    d = bias.gap_difference("uncurated", "curated", tmp_path)
    assert (d.estimate, d.low, d.high) == pytest.approx((0.2, 0.1, 0.3)) and d.per_seed == pytest.approx((0.1, 0.3))
    table = bias.gap_table(tmp_path)
    assert list(table.index) == ["uncurated", "curated"]
    assert table.loc["uncurated", "gap"] == "0.200 ± 0.141" and table.loc["uncurated", "seeds"] == 2
    scores = bias.seed_mean_scores(tmp_path)
    assert bias.score_gap(scores["uncurated"]) == pytest.approx(0.2)
    with pytest.raises(KeyError, match="bias-before"):
        bias.gap_difference("before", "curated", tmp_path)


def _tiny_classifier(tok):
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2))


def test_run_bias_trains_each_run_once_and_reads_its_files_back(tmp_path, monkeypatch):
    tok = tlcourse.load_tokenizer("minilm-l6")
    model = _tiny_classifier(tok)
    start = {n: p.clone() for n, p in model.state_dict().items()}
    tunes, real = [], bias.fine_tune_on
    monkeypatch.setattr(bias, "fine_tune_on", lambda *a, **k: tunes.append(k["seed"]) or real(*a, **k))
    profile = get_profile("smoke")
    records = bias.run_bias(model, tok, profile, seeds=(0, 1), out_dir=tmp_path, lrs=(1e-3,))
    assert sorted(tunes) == [0, 0, 1, 1]  # the rate search's winner at seed 0 is probed, not trained again
    assert all(p.equal(start[n]) for n, p in model.state_dict().items())
    before, tuned = records["bias-before"][0], records["bias-uncurated"][1]
    assert len(before["probe_p"]) == len(PROBE) and before["trainable_params"] == 0
    assert tuned["metrics"]["gap"] == pytest.approx(bias.score_gap(bias.scores_of(PROBE, tuned["probe_p"])))
    assert 0 <= tuned["metrics"]["val_accuracy"] <= 1 and tuned["share"] == pytest.approx(11 / 12)
    assert tuned["candidates"][0]["lr"] == 1e-3 and tuned["settings"]["epochs"] == profile.epochs
    assert bias.run_bias(None, None, profile, seeds=(0, 1), out_dir=tmp_path, lrs=(1e-3,)) == records
    assert len(tunes) == 4
    assert "probe_p" not in json.loads(next((tmp_path / "sweep").glob("*.json")).read_text())  # losers never probed
    assert list(bias.gap_table(tmp_path).index) == ["before", "uncurated", "curated"]
