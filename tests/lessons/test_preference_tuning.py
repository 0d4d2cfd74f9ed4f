"""Lesson 11's experiment: the pairs follow the judge, the measures, and tables and paired
differences built from result files."""
import numpy as np
import pytest

from tlcourse.lessons import preference_tuning as pr
from tlcourse.engine.records import write_result


def test_distinct_2_counts_bigrams_within_each_text():
    assert pr.distinct_2(["a b a b", "a b"]) == pytest.approx(2 / 4)  # (a,b) (b,a) (a,b) | (a,b)
    assert pr.distinct_2(["one"]) == 0.0


def test_pairs_are_the_judges_best_and_worst_with_the_reference_logps():
    """Smoke pairs (built once, then read from runs/): chosen judged positive, rejected negative,
    both among the model's own samples, and the stored reference log-probabilities are the model's."""
    import torch
    import tlcourse
    from tlcourse.methods.dpo import collator, sequence_logps
    pairs, judge = pr.preference_data("train"), pr.load_judge()
    assert len(pairs) >= 1 and all(c > 0.5 > r for c, r in zip(pairs["p_chosen"], pairs["p_rejected"]))
    assert judge.positive(pairs["chosen"]) == pytest.approx(np.array(pairs["p_chosen"]), abs=1e-3)
    tok, model = tlcourse.load_tokenizer(pr.MODEL), tlcourse.load_model(pr.MODEL)
    batch = collator(tok)([pairs[0]])
    with torch.no_grad():
        logps = sequence_logps(model, batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    assert logps.tolist() == pytest.approx([pairs[0]["ref_chosen_logps"], pairs[0]["ref_rejected_logps"]], rel=2e-2)  # stored in bf16


def _write(folder, method, seed, share, per_prompt, **extra):
    metrics = {"positive_share": share, "mean_p_positive": share, "distinct_2": 0.9, "kl": 1.0, "news_ppl": 30.0}
    write_result(folder, method=method, model=pr.MODEL, data=pr.DATA, profile="smoke", seed=seed, metrics=metrics,
                 trainable_params=0, total_params=1, wall_time_s=1.0, peak_memory_mb=1.0,
                 prompt_positive_share=per_prompt, samples=[{"prompt": "p", "continuation": method}], **extra)


def test_table_and_paired_difference_from_result_files(tmp_path):
    for seed in (0, 1):
        _write(tmp_path, "before", seed, 0.5, [0.5, 0.5, 0.0, 1.0])
        _write(tmp_path, "dpo-b0.1", seed, 0.75, [1.0, 0.5, 0.5, 1.0], lr=1e-3)
    table = pr.preference_table(tmp_path).set_index("method")
    assert list(table.index) == ["before", "dpo-b0.1"] and table.loc["dpo-b0.1", "judged positive %"] == "75.0 ± 0.0"
    assert table.loc["dpo-b0.1", "learning rate"] == "0.001" and table.loc["before", "seeds"] == 2
    mean, low, high, seeds = pr.compare(tmp_path, "dpo-b0.1", "before")
    assert mean == pytest.approx(25.0) and seeds == 2 and low < mean < high
    assert list(pr.samples(tmp_path, ["before", "dpo-b0.1"], n=1).iloc[0]) == ["p", "before", "dpo-b0.1"]
    _write(tmp_path, "sft-positives", 5, 0.6, [0.6] * 4)  # run once: set against every seed of the other
    assert len(pr.compare(tmp_path, "sft-positives", "before").per_seed) == 2
    with pytest.raises(ValueError, match="share no seed"):
        _write(tmp_path, "sft-positives", 6, 0.6, [0.6] * 4)
        pr.compare(tmp_path, "sft-positives", "before")


def test_unknown_method_and_missing_results_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="use one of"):
        pr.run_method("ppo")
    with pytest.raises(FileNotFoundError, match="run the lesson"):
        pr.preference_table(tmp_path)


def test_every_profile_has_sizes_and_grids():
    for name in ("smoke", "cpu", "gpu"):
        sizes = pr.preference_sizes(name)
        assert sizes.dpo_lrs and sizes.sft_lrs and sizes.candidates >= 2



def test_development_and_test_openings_are_disjoint_runs_of_the_test_split():
    sizes = pr.preference_sizes("smoke")
    start, stop = pr.openings("test", sizes)
    assert (start, stop) == (sizes.dev_prompts, sizes.dev_prompts + sizes.test_prompts)
    assert len(pr.prompts("test", sizes)) == sizes.test_prompts
    with pytest.raises(ValueError, match="development or test"):
        pr.prompts("held-out", sizes)


@pytest.mark.parametrize("method", ["dpo-b0.1", "sft-positives"])
def test_a_trained_method_is_chosen_on_validation_measured_and_read_back(method, tmp_path, monkeypatch):
    """run_method in the smoke profile: the rate from the method's grid (choose_rate, fit_once), every
    test prompt measured, the file the table reads, and a second call that reads it instead of training."""
    import math
    import tlcourse
    profile, sizes = tlcourse.get_profile("smoke"), pr.preference_sizes("smoke")
    record = pr.run_method(method, 0, out_dir=tmp_path, profile=profile)
    assert record["lr"] in (sizes.dpo_lrs if method in pr.BETAS else sizes.sft_lrs) and record["steps"] >= 1
    assert len(record["prompt_positive_share"]) == sizes.test_prompts and math.isfinite(record["val_loss"])
    assert 0 < record["trainable_params"] < record["total_params"] and record["metrics"]["kl"] != 0.0
    assert list(pr.preference_table(tmp_path).method) == [method]
    monkeypatch.setattr(pr, "fit_once", lambda *args, **kwargs: pytest.fail("trained again"))
    assert pr.run_method(method, 0, out_dir=tmp_path, profile=profile) == record
