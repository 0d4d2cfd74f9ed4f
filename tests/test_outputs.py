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


def test_committed_lessons_hold_no_frozen_progress_bars():
    from tlcourse.tools.runbook import PROGRESS
    frozen = [(nb.name, first) for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
              for first, text in outputs(nbformat.read(nb, as_version=4)) if PROGRESS.search(text)]
    assert not frozen, f"progress bars in committed outputs (run the lesson with `tlcourse run`): {frozen}"


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
