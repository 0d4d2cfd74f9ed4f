"""Exercises generated from solutions (tlcourse.tools.exercises): answers go, questions stay."""
import nbformat
import pytest

from tlcourse.engine.config import ROOT
from tlcourse.tools.exercises import to_exercise


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_a_discussion_prompt_stays_and_its_answer_goes():
    prompt = nbformat.v4.new_markdown_cell("**Discuss.** Is the gap real?", metadata={"tags": ["discussion"]})
    answer = nbformat.v4.new_markdown_cell("**Discussion.** No: the interval holds 0.",
                                           metadata={"tags": ["solution"]})
    code = nbformat.v4.new_code_cell("x = 1\n# BEGIN SOLUTION: set y\ny = 2\n# END SOLUTION\ncheck(y)",
                                     metadata={"tags": ["exercise"]})
    sources = [c.source for c in to_exercise(notebook(code, prompt, answer)).cells]
    assert sources == ["x = 1\n# TODO: set y\nraise NotImplementedError('set y')\ncheck(y)", prompt.source]


def test_a_cell_cannot_be_both_prompt_and_answer():
    both = nbformat.v4.new_markdown_cell("?", metadata={"tags": ["discussion", "solution"]})
    with pytest.raises(ValueError, match="two cells"):
        to_exercise(notebook(both))


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb"))[2:], ids=lambda p: p.stem)
def test_lessons_03_to_11_keep_a_gap_exercise_and_its_prompt(path):
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    sources = [c.source for c in exercise.cells]
    assert any("check_gap(" in s and "NotImplementedError" in s for s in sources), path.name
    assert any(s.startswith("**Discuss.**") for s in sources), f"{path.name}: the discussion prompt was dropped"


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb"))[2:], ids=lambda p: p.stem)
def test_every_answer_in_lessons_03_to_11_follows_its_prompt(path):
    cells = nbformat.read(path, as_version=4).cells
    tags = [c.metadata.get("tags", []) for c in cells]
    for i, t in enumerate(tags):
        if "solution" in t:
            assert i and "discussion" in tags[i - 1], f"{path.name}: cell {cells[i].get('id')} answers no prompt"
