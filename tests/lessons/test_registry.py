"""The lesson registry (tlcourse/lessons/__init__.py): it names every notebook, each name in it resolves,
and a lesson added to it reaches every consumer: `tlcourse results --run`, the README's tables, the
course map and the freshness check of its sizes."""
from importlib import import_module

import nbformat

from tlcourse import lessons
from tlcourse.engine.config import ROOT
from tlcourse.lessons import Lesson, LESSONS, function, lesson_tables, run_experiments
from tlcourse.report import tables
from tlcourse.tools import freshness


def test_the_registry_names_every_notebook_once_in_order():
    assert [lesson.notebook for lesson in LESSONS] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_every_function_the_registry_names_exists():
    names = [name for lesson in LESSONS for name in lesson.runs] + [n for l in LESSONS for _, n in l.tables]
    assert all(callable(function(name)) for name in names)


DUMMY = """
from dataclasses import dataclass

from tlcourse.engine import reads

CALLS = []


@dataclass
class DummySizes:
    items: int  # how many items the dummy lesson runs on


SIZES = {"cpu": DummySizes(3)}


@reads.size_table
def sizes(profile):
    return SIZES[profile]


def first(skip_existing=True):
    CALLS.append(("first", skip_existing))


def second():
    CALLS.append(("second",))


def table(folder):
    return f"table of {folder}"
"""


def test_a_dummy_lesson_reaches_every_consumer(tmp_path, monkeypatch):
    (tmp_path / "dummy_lesson.py").write_text(DUMMY)
    monkeypatch.syspath_prepend(tmp_path)
    module = import_module("dummy_lesson")
    dummy = Lesson("99_dummy.ipynb", runs=("dummy_lesson:first", "dummy_lesson:second"),
                   tables=(("dummy", "dummy_lesson:table"),))
    monkeypatch.setattr(lessons, "LESSONS", (dummy,))
    run_experiments(skip_existing=False)
    assert module.CALLS == [("first", False), ("second",)]
    assert lesson_tables()["dummy"]("results") == "table of results"
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 99 — what a dummy shows")])
    nbformat.write(nb, tmp_path / "notebooks" / dummy.notebook)
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    assert tables.course_map(("cpu",))["what it shows"].tolist() == ["what a dummy shows"]
    assert freshness._sizes("dummy_lesson:sizes", "cpu") == {"items": 3}
    monkeypatch.setitem(module.SIZES, "cpu", module.DummySizes(4))
    assert freshness._sizes("dummy_lesson:sizes", "cpu") == {"items": 4}
