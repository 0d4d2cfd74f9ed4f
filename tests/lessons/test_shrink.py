"""Lesson 13 (issue 38): its sizes, and the pilot in the smoke profile: every weight format and both fine-tunes
measured on validation, read back instead of rerun."""
import pytest

from tlcourse.lessons import shrink
from tlcourse.methods.quantise import FORMATS


def test_every_profile_sizes_a_pilot_inside_its_training_pairs():
    for name in ("smoke", "cpu", "gpu"):
        sizes = shrink.shrink_sizes(name)
        assert sizes.pilot_pairs <= sizes.train_pairs and sizes.lora_r >= 1 and sizes.news_blocks >= 1
        assert sizes.alphas[0] == 0.0 and sizes.alphas[-1] == 1.0 and list(sizes.alphas) == sorted(sizes.alphas)


def test_an_unknown_arm_names_the_known_ones():
    with pytest.raises(ValueError, match="lora, qlora"):
        shrink.arm_model("dora", shrink.shrink_sizes("smoke"), 0)


def test_the_pilot_measures_each_format_and_both_fits_and_is_read_back(tmp_path):
    pilot = shrink.run_pilot(out_dir=tmp_path)
    formats, fits = pilot["format_costs"], pilot["fits"]
    assert set(formats) == set(FORMATS) and set(fits) == set(shrink.ARMS)
    memory = {fmt: cost["weights_mb"] for fmt, cost in formats.items()}
    assert memory["nf4"] < memory["int8"] < memory["fp32"] and memory["bf16"] < memory["fp32"]
    sizes = shrink.shrink_sizes("smoke")
    for fmt, cost in formats.items():
        assert ("skipped" in cost) == (not shrink.computes_here(fmt))
        if shrink.computes_here(fmt):
            assert 0 <= cost["val_chrf"] <= 100 and len(cost["val_sentence_chrf"]) == sizes.val_pairs
            assert cost["news_loss"] > 0 and cost["seconds_per_sentence"] > 0
    assert fits["qlora"]["weights_mb"] < fits["lora"]["weights_mb"]
    assert all(f["steps"] >= 1 and f["ms_per_step"] > 0 and f["val_loss"] > 0 for f in fits.values())
    assert shrink.run_pilot(out_dir=tmp_path) == pilot


@pytest.fixture(scope="module")
def arms(tmp_path_factory):
    """The smoke runs, once: QLoRA at the first seed, LoRA at every seed (merging and WiSE-FT start from them)."""
    folder = tmp_path_factory.mktemp("shrink")
    seeds = shrink.shrink_sizes("smoke").seeds
    runs = {("qlora", 0): shrink.run_arm("qlora", 0, out_dir=folder)}
    return folder, runs | {("lora", s): shrink.run_arm("lora", s, out_dir=folder) for s in seeds}


def test_each_arm_keeps_every_test_verse_and_its_adapters_and_is_read_back(arms):
    folder, runs = arms
    sizes = shrink.shrink_sizes("smoke")
    for arm in shrink.ARMS:
        r = runs[arm, 0]
        assert len(r["test_sentence_chrf"]) == len(r["test_hypotheses"]) == sizes.test_pairs
        assert 0 <= r["metrics"]["chrf"] <= 100 and r["lr"] in [c["lr"] for c in r["candidates"]]
        assert r["metrics"]["ms_per_step"] > 0 and r["trainable_params"] < r["total_params"]
        assert (shrink.adapter_folder(arm, 0, shrink.get_profile()) / "adapter_model.safetensors").exists()
        assert shrink.run_arm(arm, seed=0, out_dir=folder) == r
    assert (folder / "sweep").is_dir()


def test_alpha_is_the_smallest_keeping_most_of_the_validation_gain():
    curve = lambda *chrf: [{"alpha": a, "chrf": c} for a, c in zip((0.0, 0.25, 0.5, 0.75, 1.0), chrf)]
    assert shrink.choose_alpha({0: curve(10, 15, 19.6, 20, 20), 1: curve(10, 14, 18.6, 19, 20)}) == 0.5
    assert shrink.choose_alpha({0: curve(10, 9, 8, 8, 8)}) == 0.0


def test_merging_and_interpolation_start_from_the_saved_adapters(arms):
    folder, _ = arms
    merged = shrink.run_merge(out_dir=folder)
    assert merged["logit_gap"] < 1e-3 and merged["reload_gap"] == 0 and merged["merged_mb"] > 100
    wise = shrink.run_interpolation(out_dir=folder)
    alphas = list(shrink.shrink_sizes("smoke").alphas)
    assert wise["alpha"] in alphas and set(wise["curves"]) == {"0", "1"}
    assert [p["alpha"] for p in wise["curves"]["0"]] == alphas
    assert {"soup", "best_seed", "base"} <= set(wise["test"]) and wise["test"]["base"]["news_loss"] > 0
    assert shrink.run_interpolation(out_dir=folder) == wise
    with pytest.raises(FileNotFoundError, match="run run_arm"):
        shrink.tuned("lora", 7, shrink.get_profile())


def test_the_format_table_and_the_frontier_read_the_records():
    cost = lambda mb, chrf=None: {"weights_mb": mb, "load_s": 1.0} | (
        {"val_chrf": chrf, "seconds_per_sentence": 0.1, "news_loss": 3.0} if chrf else {"skipped": "memory only"})
    table = shrink.format_table({"format_costs": {"nf4": cost(160, 20), "fp32": cost(513, 22), "bf16": cost(257),
                                                  "int8": cost(209, 21)}})
    assert list(table.index) == ["fp32", "bf16", "int8", "nf4"] and table.loc["fp32", "of fp32"] == 1
    assert table["val chrF"].isna().tolist() == [False, True, False, False]
    point = lambda a, chrf, loss: {"alpha": a, "chrf": chrf, "news_loss": loss}
    record = {"curves": {"0": [point(0, 10, 3.0), point(1, 20, 3.2)]}, "alpha": 1.0,
              "test": {"soup_validation": {"chrf": 19, "news_loss": 3.1}}}
    ax = shrink.plot_frontier(record).axes[0]
    assert ax.lines[0].get_xdata()[-1] == pytest.approx(0.2) and ax.lines[0].get_ydata()[-1] == 10
