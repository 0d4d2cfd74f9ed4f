"""The Colab cell and its set-up logic, run here with a stand-in `google.colab`, a fake list of
installed packages and pip stubbed: what is installed, and when a restart is asked for."""
import runpy
import sys
import types
from pathlib import Path

import nbformat
import pytest

from tlcourse.engine.config import ROOT
from tlcourse.tools import colab, colab_setup

SETUP = ROOT / "tlcourse" / "tools" / "colab_setup.py"
KEEP = ("torch==", "ipykernel==")
PINS = "# lock\ntorch==2.13.0\nnumpy==2.4.6\npandas==3.1.1\npeft==0.21.2  # not on Colab\n"
COLAB = {"torch": "2.8.0+cu126", "ipykernel": "6.17.1", "numpy": "2.4.6", "pandas": "2.2.2"}


@pytest.fixture
def colab_runtime(tmp_path, monkeypatch):
    """A fake Colab: google.colab imported, COLAB installed, pip and prefetch recorded, not run."""
    course = tmp_path / "tlcourse"
    (course / "notebooks").mkdir(parents=True)
    (course / "requirements.txt").write_text(PINS)
    installed, commands = dict(COLAB), []

    def run(cmd):
        commands.append(cmd[2:])
        if cmd[2:4] == ["pip", "install"]:
            installed.update(a.split("==") for a in cmd if "==" in a)
            installed.update({"tlcourse": "0.1.0"} if "-e" in cmd else {})

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(colab_setup, "versions", lambda: dict(installed))
    monkeypatch.setattr(colab_setup, "providers", lambda: {"fake_pandas_mod": ["pandas"], "numpy": ["numpy"]})
    monkeypatch.setattr(colab_setup, "run", run)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    return course, installed, commands


def test_installs_only_what_colab_lacks_or_has_at_another_version(colab_runtime):
    course, installed, commands = colab_runtime
    colab_setup.setup(str(course), KEEP)
    assert commands == [["pip", "install", "-q", "pandas==3.1.1", "peft==0.21.2"],
                        ["pip", "install", "-q", "--no-deps", "-e", str(course)],
                        ["tlcourse.tools.cli", "prefetch"]]
    assert installed["torch"] == COLAB["torch"], "Colab's own torch is kept"
    assert Path.cwd() == course / "notebooks" and sys.path[0] == str(course)


def test_a_replaced_package_the_kernel_imported_asks_for_a_restart(colab_runtime, monkeypatch):
    course, installed, commands = colab_runtime
    monkeypatch.setitem(sys.modules, "fake_pandas_mod", types.ModuleType("fake_pandas_mod"))
    with pytest.raises(colab_setup.RestartNeeded) as stop:
        colab_setup.setup(str(course), KEEP)
    assert str(stop.value).startswith("Runtime → Restart session, then run this cell again")
    assert stop.value._render_traceback_() == [str(stop.value)], "IPython shows one line, no traceback"
    assert "pandas" in str(stop.value) and "numpy" not in str(stop.value)
    assert commands[-1] == ["tlcourse.tools.cli", "prefetch"], "assets are fetched before the restart"
    assert Path.cwd() != course / "notebooks", "the lesson does not carry on"

    commands.clear()  # after the restart, the same cell again: nothing left to install
    colab_setup.setup(str(course), KEEP)
    assert commands == [["tlcourse.tools.cli", "prefetch"]]


def test_outside_colab_the_set_up_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    setup = runpy.run_path(str(SETUP))["setup"]  # as the cell loads it
    assert setup("/nonexistent", KEEP) is None


def test_the_cell_clones_the_default_repo_and_runs_the_set_up(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("subprocess.run", lambda cmd, check: calls.append(cmd))
    monkeypatch.setattr("os.path.isdir", lambda path: False)
    monkeypatch.setattr("runpy.run_path", lambda path: {"setup": lambda *a: calls.append([path, *a])})
    exec(colab.CELL, {})
    clone, setup = calls
    assert clone[-2:] == [colab.repo(), "/content/tlcourse"] and "%env" not in colab.CELL
    assert setup[0] == "/content/tlcourse/tlcourse/tools/colab_setup.py" and setup[2][0] == "torch=="


def test_every_pin_but_colabs_own_is_compared():
    keep = eval(colab.CELL.split("keep = ")[1].split("  #")[0])
    pinned = colab_setup.pins(str(ROOT / "requirements.txt"), keep)
    assert "torch" not in pinned and pinned["peft"] and len(pinned) > 10


def test_badge_follows_the_title_and_opens_this_copy(monkeypatch, tmp_path):
    monkeypatch.setattr(colab, "REPO_FILE", tmp_path / "colab_repo.txt")
    (tmp_path / "colab_repo.txt").write_text("# comment\nhttps://github.com/old/name\n")
    colab.set_repo("https://github.com/someone/tl-course.git")
    assert colab.repo() == "https://github.com/someone/tl-course.git"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 03"),
                                         nbformat.v4.new_code_cell("x = 1")])
    assert colab.stamp(nb, "03_x.ipynb") and not colab.stamp(nb, "03_x.ipynb")
    title, link, setup, code = nb.cells
    assert "github/someone/tl-course/blob/main/notebooks/03_x.ipynb" in link.source
    assert setup.metadata["tags"] == [colab.TAG] and code.source == "x = 1"
    with pytest.raises(SystemExit, match="OWNER/NAME"):
        colab.set_repo("https://gitlab.com/someone/tl-course")


def test_every_lesson_in_notebooks_opens_with_the_badge():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, 4).cells
        assert cells[1].source == colab.badge(path.name), f"{path.name}: run `make exercises`"
