"""The first cells of every lesson: an "Open in Colab" badge, then the Colab set-up cell.

The set-up cell cannot import tlcourse (it is what installs it), so its source lives here as
text: on Colab only, it clones this copy of the course and runs tools/colab_setup.py from the
clone. Colab keeps its own CUDA torch and Jupyter (the cell's keep list). `stamp_all` writes the
cells into the notebooks (exercises inherit the set-up cell from solutions); a test checks every
notebook carries the current ones. The course's GitHub URL is kept in one place, colab_repo.txt
beside this file: `make colab REPO=https://github.com/OWNER/NAME` sets it and restamps.
"""
import re
import sys
from pathlib import Path

from ..engine.config import ROOT

TAG = "colab"  # the set-up cell's tag; `stamp` replaces the tagged cell or inserts one
BADGE_TAG = "colab-badge"  # the badge's markdown cell, right after a lesson's title
BRANCH = "main"  # the branch the badges open in Colab
REPO_FILE = Path(__file__).with_name("colab_repo.txt")  # one line: https://github.com/OWNER/NAME
GITHUB = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)(\.git)?/?")  # -> OWNER/NAME


def repo() -> str:
    """The course's GitHub URL (the first line of colab_repo.txt that is not a # comment)."""
    return next(line.strip() for line in REPO_FILE.read_text().splitlines()
                if line.strip() and not line.startswith("#"))


CELL = f'''\
# Colab only: fetch the course, install what Colab lacks, prefetch the assets (~3 min, once).
import os, runpy, subprocess, sys
REPO = "{repo()}"  # this copy of the course (`make colab REPO=…` sets it)
keep = ("torch==", "ipykernel==", "jupyterlab==", "nbclient==", "nbformat==")  # Colab's own
if "google.colab" in sys.modules:
    if not os.path.isdir("/content/tlcourse"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", REPO, "/content/tlcourse"], check=True)
    runpy.run_path("/content/tlcourse/tlcourse/tools/colab_setup.py")["setup"]("/content/tlcourse", keep)'''


def badge(notebook: str) -> str:
    """Markdown for the "Open in Colab" badge of notebooks/<notebook> in this copy of the course."""
    owner_name = GITHUB.fullmatch(repo()).group(1)
    return ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{owner_name}/blob/{BRANCH}/notebooks/{notebook})")


def _tagged(cells, tag: str, make):
    """The cell carrying this tag, or a new one with that tag (and, for quiet diffs, that id)."""
    found = next((c for c in cells if tag in c.metadata.get("tags", [])), None)
    return found or make("", id=tag, metadata={"tags": [tag]})


def stamp(nb, notebook: str | None = None) -> bool:
    """Make the first code cell the set-up cell and, for a lesson (notebook named), put its badge
    right after the title; True if anything changed."""
    import nbformat
    before = [(c.cell_type, c.source) for c in nb.cells]
    cells = [c for c in nb.cells if not {TAG, BADGE_TAG} & set(c.metadata.get("tags", []))]
    setup = _tagged(nb.cells, TAG, nbformat.v4.new_code_cell)
    setup.source = CELL
    at = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(at, setup)
    if notebook:
        link = _tagged(nb.cells, BADGE_TAG, nbformat.v4.new_markdown_cell)
        link.source = badge(notebook)
        cells.insert(1 if cells and cells[0].cell_type == "markdown" else 0, link)
    if [(c.cell_type, c.source) for c in cells] == before:
        return False
    nb.cells = cells
    return True


def stamp_all(folders=("notebooks", "solutions"), write: bool = True) -> list[str]:
    """Stamp every lesson notebook (badges in notebooks/ only); returns the changed ones."""
    import nbformat
    changed = []
    for folder in folders:
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            if stamp(nb, path.name if folder == "notebooks" else None):
                changed.append(f"{folder}/{path.name}")
                if write:
                    nbformat.write(nb, path)
    return changed


def set_repo(url: str) -> None:
    """Record the course's GitHub URL; `tlcourse exercises` then restamps every lesson with it."""
    if not GITHUB.fullmatch(url):
        raise SystemExit(f"{url!r} is not a GitHub repository URL: give https://github.com/OWNER/NAME")
    header = [line for line in REPO_FILE.read_text().splitlines() if line.startswith("#")]
    REPO_FILE.write_text("\n".join(header + [url.rstrip("/")]) + "\n")


if __name__ == "__main__":  # make colab REPO=…
    set_repo(sys.argv[1] if len(sys.argv) > 1 else "")
