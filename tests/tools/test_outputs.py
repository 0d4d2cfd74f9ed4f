"""What a learner sees live: two lessons run in the smoke profile, and no output names a machine
path or carries library noise they cannot act on."""
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tlcourse.engine.config import ROOT

NOISE = ("site-packages", "/tmp/", str(ROOT), "FutureWarning", "Loading weights")


def outputs(nb):
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") + "".join(out.get("data", {}).get("text/plain", ""))
            yield cell.source.splitlines()[0] if cell.source else "", text + out.get("evalue", "")


@pytest.mark.parametrize("lesson", ["05_full_fine_tuning.ipynb", "06_lora.ipynb"])
def test_live_outputs_hold_no_paths_or_library_noise(lesson, tmp_path):
    folder = tmp_path / "notebooks"  # a copy beside the course, so the lesson's relative paths hold
    folder.mkdir()
    shutil.copy(ROOT / "notebooks" / lesson, folder / lesson)
    nb = nbformat.read(folder / lesson, as_version=4)
    os.environ["TLCOURSE_PROFILE"] = "smoke"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
                   ).execute()
    found = [(first, word) for first, text in outputs(nb) for word in NOISE if word in text]
    assert not found, f"{lesson}: outputs hold {found}"


WIDGET_REPR = re.compile(r"[A-Z]\w*\(")  # an interactive widget's text: "VBox(children=(IntSlider(..."; a tqdm bar's is its meter


def widget_texts(nb):
    """(first line of the cell, text/plain) of every output that shows a widget."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                yield cell.source.splitlines()[0], "".join(out.data.get("text/plain", ""))


def test_committed_lessons_hold_no_frozen_progress_bars():
    from tlcourse.tools.runbook import PROGRESS
    frozen = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        frozen += [(path.name, first) for first, text in outputs(nb) if PROGRESS.search(text)]
        frozen += [(path.name, first, text) for first, text in widget_texts(nb) if not WIDGET_REPR.match(text)]
    assert not frozen, f"progress bars in committed outputs (run the lesson with `tlcourse run`): {frozen}"


def test_clean_drops_a_bar_whose_text_was_cut_short():
    """ipywidgets cuts a widget's text at 110 characters: a bar with a long description is found by
    the widget state the run saved, not by its "0%|"; the interactive widget beside it stays."""
    from tlcourse.tools.runbook import clean
    view = lambda model: {"application/vnd.jupyter.widget-view+json": {"model_id": model, "version_major": 2}}
    cut = nbformat.v4.new_output("display_data", data=view("bar") | {
        "text/plain": "full__data-cache-adapted-minilm-l6-tapt-cpu-bb6dbe3f__custom-3b4a91eb__cpu__seed0: choosing on validation:   0\u2026"})
    explorer = nbformat.v4.new_output("execute_result", data=view("box") | {"text/plain": "VBox(children=(IntSlider(value=3),))"},
                                      execution_count=1)
    state = {"bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_html", "IPY_MODEL_progress"]}},
             "progress": {"model_name": "FloatProgressModel", "state": {}},
             "html": {"model_name": "HTMLModel", "state": {}},
             "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider"]}},
             "slider": {"model_name": "IntSliderModel", "state": {}}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[cut, explorer])],
                                  metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": state}}})
    assert [text for _, text in widget_texts(nb) if not WIDGET_REPR.match(text)]  # the committed-output test sees it
    clean(nb)
    assert [o.data["text/plain"] for o in nb.cells[0].outputs] == [explorer.data["text/plain"]]
    assert "widgets" not in nb.metadata


LONG_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{5,}(?!\w)")  # 39.469416646416725: more digits than any interval supports


def displayed(nb):
    """(first line of the cell, text) of every displayed value: tables, frames, dicts (not printed lines)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type in ("execute_result", "display_data"):
                for kind in ("text/html", "text/plain"):
                    yield cell.source.splitlines()[0], "".join(out.data.get(kind, ""))


def test_committed_lessons_hold_no_paths_reprs_or_long_floats():
    from tlcourse.tools.runbook import REPR
    faults = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        faults += [(path.name, first, "a machine path") for first, text in outputs(nb)
                   for word in ("site-packages", "/tmp/", str(ROOT), str(Path.home())) if word in text]
        faults += [(path.name, first, "an object repr") for first, text in outputs(nb) if REPR.search(text)]
        faults += [(path.name, first, "a rerun made while it was executed") for first, text in outputs(nb)
                   if "rerunning, since" in text]
        faults += [(path.name, first, "a truncation warning for a length the lesson chose (tokenize(..., quiet=True))")
                   for first, text in outputs(nb) if "CourseWarning" in text and "were truncated" in text]
        faults += [(path.name, first, f"unrounded {LONG_FLOAT.search(text).group()}")
                   for first, text in displayed(nb) if LONG_FLOAT.search(text)]
    assert not faults, f"committed outputs a learner should not see (fix, then `tlcourse run` the lesson again): {faults}"


def test_clean_drops_progress_widgets_and_keeps_other_outputs():
    from tlcourse.tools.runbook import clean
    bar = nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                                        "text/plain": "methods:   0%|          | 0/4 [00:00<?, ?it/s]"})
    explorer = nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "y"},
                                                             "text/plain": "VBox(children=(IntSlider(value=64),))"})
    table = nbformat.v4.new_output("execute_result", data={"text/plain": "accuracy 74%"}, execution_count=1)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[bar, explorer, table])])
    clean(nb)
    assert [o.data["text/plain"] for o in nb.cells[0].outputs] == [explorer.data["text/plain"], "accuracy 74%"]
