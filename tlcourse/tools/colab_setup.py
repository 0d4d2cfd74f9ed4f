"""Colab set-up, run by every lesson's first cell: install what Colab lacks, prefetch, go.

The cell clones the course and runs this file from the clone (`runpy.run_path`), before tlcourse
is importable: so it uses the standard library only. Colab already has torch and a Jupyter stack
(the cell's keep list); of the rest of requirements.txt a package is installed only when it is
missing or at another version than its pin, the lock the course was tested with. A package that
this kernel has already imported keeps its old version in memory after pip replaces it, so the
set-up then stops with one line asking for a restart; run again, it finds nothing to install.
"""
import importlib.metadata
import os
import re
import subprocess
import sys

RESTART = "Runtime → Restart session, then run this cell again"


class RestartNeeded(Exception):
    """Stops the cell; IPython shows only the message (via _render_traceback_), not a traceback."""

    def _render_traceback_(self):
        return [str(self)]


def norm(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): `Scikit_Learn` -> `scikit-learn`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: str, keep=()) -> dict[str, str]:
    """{name: version} of every `name==version` line but those starting with a keep prefix."""
    found = {}
    with open(requirements) as f:
        for line in f:
            if line[:1].isalpha() and not line.startswith(keep):
                name, version = line.split("#")[0].strip().split("==")
                found[norm(name)] = version
    return found


def versions() -> dict[str, str]:
    """{name: version} of every distribution installed in this kernel's environment."""
    return {norm(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
            if d.metadata["Name"]}  # a half-removed package can leave metadata without a name


def providers() -> dict[str, list[str]]:
    """{top-level module: [distributions that install it]}."""
    return importlib.metadata.packages_distributions()


def in_use(names) -> list[str]:
    """Which of these distributions have a module imported in this kernel."""
    wanted = {norm(n) for n in names}
    imported = {m.split(".")[0] for m in sys.modules}
    return sorted({norm(d) for mod, dists in providers().items() if mod in imported
                   for d in dists if norm(d) in wanted})


def run(cmd: list[str]) -> None:
    """Run a command, echoing its output into the cell (Colab does not show a child's own output)."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd[2:4])} …` failed (its output is above); run this cell again.")


def setup(course: str = "/content/tlcourse", keep=()) -> None:
    """On Colab: install the missing or different pins and the course, prefetch, cd to the lessons."""
    if "google.colab" not in sys.modules:
        return
    before = versions()
    todo = {n: v for n, v in pins(f"{course}/requirements.txt", keep).items() if before.get(n) != v}
    if todo:
        print(f"installing {len(todo)} package(s) Colab lacks or has at another version: {', '.join(todo)}")
        run([sys.executable, "-m", "pip", "install", "-q", *(f"{n}=={v}" for n, v in todo.items())])
    if "tlcourse" not in before:
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", course])
    run([sys.executable, "-m", "tlcourse.tools.cli", "prefetch"])
    after = versions()
    if stale := in_use(n for n, v in before.items() if after.get(n) != v):
        raise RestartNeeded(f"{RESTART} (this kernel had imported {', '.join(stale)}, now replaced).")
    if course not in sys.path:
        sys.path.insert(0, course)  # the editable install is seen only by kernels started after it
    os.chdir(f"{course}/notebooks")
