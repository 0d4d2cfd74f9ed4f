"""The first code cell of every lesson: on Colab only, install the course; elsewhere, nothing.

The cell cannot import tlcourse (it is what installs it), so its source lives here as text and
`stamp` writes it into each notebook; a test checks every notebook carries the current cell.
Colab keeps its own CUDA torch and Jupyter: only the rest of requirements.txt is installed.
"""
TAG = "colab"  # the cell's tag; `stamp` replaces the tagged cell or inserts one

CELL = '''\
# Colab only: fetch the course, install it beside Colab's own torch, prefetch the assets (~3 min, once).
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("/content/tlcourse"):
    repo = os.environ.get("TLCOURSE_REPO")  # the course's git URL: %env TLCOURSE_REPO=https://…
    if not repo:
        raise RuntimeError("Run `%env TLCOURSE_REPO=<git URL of the course>` in a cell, then this cell again.")
    subprocess.run(["git", "clone", "-q", "--depth", "1", repo, "/content/tlcourse"], check=True)
    keep = ("torch==", "ipykernel==", "jupyterlab==", "nbclient==", "nbformat==")  # Colab's own
    pins = [l for l in open("/content/tlcourse/requirements.txt") if l[0].isalpha() and not l.startswith(keep)]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *map(str.strip, pins)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", "/content/tlcourse"], check=True)
    subprocess.run([sys.executable, "-m", "tlcourse.tools.cli", "prefetch"], check=True)
if "google.colab" in sys.modules:
    sys.path.insert(0, "/content/tlcourse")  # this kernel started before the install
    os.chdir("/content/tlcourse/notebooks")'''


def stamp(nb) -> bool:
    """Make the notebook's first code cell the Colab cell; True if anything changed."""
    import nbformat
    rest = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
    at = next((i for i, c in enumerate(rest) if c.cell_type == "code"), len(rest))
    sources = [c.source for c in rest]
    if [c.source for c in nb.cells] == sources[:at] + [CELL] + sources[at:]:
        return False
    nb.cells = rest[:at] + [nbformat.v4.new_code_cell(CELL, metadata={"tags": [TAG]})] + rest[at:]
    return True


def stamp_all(folders=("notebooks", "solutions"), write: bool = True) -> list[str]:
    """Stamp every lesson notebook (exercises inherit the cell from solutions); returns changed ones."""
    import nbformat
    from ..engine.config import ROOT
    changed = []
    for folder in folders:
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if stamp(nb):
                changed.append(f"{folder}/{path.name}")
                if write:
                    nbformat.write(nb, path)
    return changed
