"""Committed lessons show what their result files hold: `tlcourse run` records what each lesson read,
and a lesson whose code, profile, sizes or result files changed since is reported stale."""
import shutil
from dataclasses import replace

import nbformat
import pytest

from tlcourse.engine.config import LESSON_TIMES, LESSON_TIMES_FRESH, RESULTS, ROOT
from tlcourse.lessons.translation_sft import SIZES
from tlcourse.tools import freshness
from tlcourse.tools.runbook import run_notebook

LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb"))
READ = "before__smollm2-135m__rt_continuations__cpu__seed0.json"  # any committed result file


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """A small lesson run by the runbook: it reads one result file, lists a folder, asks for sizes."""
    folder = tmp_path_factory.mktemp("lesson")
    code = ["import json, tlcourse",
            f"from tlcourse.engine.config import RESULTS\nrecord = json.loads((RESULTS / 'cpu' / {READ!r}).read_text())",
            "names = sorted(p.name for p in (RESULTS / 'cpu').glob('before__*'))",
            "from tlcourse.lessons.translation_sft import translate_sizes\nsizes = translate_sizes()",
            "import tempfile\nwith tempfile.TemporaryDirectory() as d:  # removed by listing a descriptor\n"
            "    open(f'{d}/x', 'w').close()"]
    path = folder / "lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in code]), path)
    run_notebook(path)
    return nbformat.read(path, 4)


def test_the_runbook_records_what_a_lesson_read(executed):
    record = executed.metadata[freshness.KEY]
    assert list(record["files"]) == [f"results/cpu/{READ}"]
    assert list(record["folders"]) == ["results/cpu"]
    assert set(record["sizes"]) == {"tlcourse.lessons.translation_sft:translate_sizes"}
    assert freshness.stale(executed) == []


def test_a_changed_result_file_makes_the_lesson_stale(executed, tmp_path):
    (tmp_path / "results").mkdir()
    shutil.copytree(RESULTS / "cpu", tmp_path / "results" / "cpu")
    assert freshness.stale(executed, root=tmp_path) == []
    for times in (LESSON_TIMES, LESSON_TIMES_FRESH):  # the runbook's own records: a first `make course` writes one
        (tmp_path / "results" / "cpu" / times).unlink(missing_ok=True)
    assert freshness.stale(executed, root=tmp_path) == []
    copy = tmp_path / "results" / "cpu" / READ
    copy.write_text(copy.read_text().replace('"seed": 0', '"seed": 0 '))
    assert freshness.stale(executed, root=tmp_path) == [f"results/cpu/{READ} changed"]
    (tmp_path / "results" / "cpu" / "new__file.json").write_text("{}")
    assert "results/cpu/ gained or lost files" in freshness.stale(executed, root=tmp_path)


def test_changed_code_or_sizes_make_the_lesson_stale(executed, monkeypatch):
    edited = nbformat.from_dict(executed)
    edited.cells[-1].source += "\nsizes = None"
    assert freshness.stale(edited) == ["its code cells changed"]
    profile = executed.metadata[freshness.KEY]["profile"]
    monkeypatch.setitem(SIZES, profile, replace(SIZES[profile], train_pairs=SIZES[profile].train_pairs + 1))
    assert freshness.stale(executed) == ["the sizes of tlcourse.lessons.translation_sft:translate_sizes changed"]


@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_committed_lesson_is_current(path):
    why = freshness.stale(nbformat.read(path, 4))
    assert not why, f"{path.name} is stale ({'; '.join(why)}): run `tlcourse run notebooks/{path.name}`"
