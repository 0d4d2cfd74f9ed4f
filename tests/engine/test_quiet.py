"""`tlcourse run` (what `make course` runs) prints only what a learner can act on: no kernel noise."""
import nbformat

from tlcourse.tools.runbook import run_notebook


def test_a_lesson_runs_without_kernel_warnings_or_leftover_sockets(tmp_path, capfd):
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")]), path)
    run_notebook(path)
    out, err = capfd.readouterr()  # the kernel's own stdout and stderr land here too
    assert (out, err) == ("", ""), "nothing but the lesson times should reach the terminal"
    assert nbformat.read(path, 4).cells[0].outputs[0].text == "hi\n"
    assert list(tmp_path.iterdir()) == [path], "no IPC socket files left beside the lesson"
