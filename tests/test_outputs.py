"""What a learner sees live: two lessons run in the smoke profile, and no output names a machine
path or carries library noise they cannot act on."""
import os
import shutil

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
