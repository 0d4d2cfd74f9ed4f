"""Exercises are generated from solutions: solutions/*.ipynb -> exercises/*.ipynb.

In a solution notebook, a code cell tagged "exercise" holds its answer between the lines
`# BEGIN SOLUTION: <what to do>` and `# END SOLUTION`; the exercise keeps the cell, replaces
the answer by a TODO that says what to do, and keeps the check call that follows.
A markdown cell tagged "discussion" asks a question to think about and stays; one tagged "solution"
answers it (or discusses an exercise's answer) and is dropped; outputs are cleared.
"""
import re
from pathlib import Path

from ..engine.config import ROOT

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION:?\s*(.*)$")
END = re.compile(r"^\s*# END SOLUTION\s*$")


def blank(source: str) -> str:
    """Replace every solution block in a cell's source by a TODO and a NotImplementedError."""
    out, inside = [], False
    for line in source.splitlines():
        if m := BEGIN.match(line):
            indent, task = m.groups()
            out += [f"{indent}# TODO: {task}", f"{indent}raise NotImplementedError({task!r})"]
            inside = True
        elif END.match(line):
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a '# BEGIN SOLUTION' has no '# END SOLUTION'")
    return "\n".join(out)


def to_exercise(nb):
    """The exercise version of a solution notebook (a new notebook object)."""
    import nbformat
    ex = nbformat.v4.new_notebook(metadata=nb.metadata)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "solution" in tags and "discussion" in tags:
            raise ValueError(f"cell {cell.get('id')}: a prompt (discussion) and its answer (solution) "
                             "belong in two cells, so that the prompt stays in the exercise")
        if "solution" in tags:
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if "exercise" in tags:
                cell.source = blank(cell.source)
        ex.cells.append(cell)
    return ex


def generate(solutions: Path = ROOT / "solutions", exercises: Path = ROOT / "exercises",
             write: bool = True) -> list[str]:
    """Write (or, with write=False, only compare) every exercise; returns the stale names."""
    import nbformat
    stale = []
    exercises.mkdir(exist_ok=True)
    for path in sorted(solutions.glob("*.ipynb")):
        text = nbformat.writes(to_exercise(nbformat.read(path, as_version=4))) + "\n"
        target = exercises / path.name
        if not target.exists() or target.read_text() != text:
            stale.append(path.name)
            if write:
                target.write_text(text)
    return stale
