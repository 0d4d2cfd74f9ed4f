"""`tlcourse run` (what `make course` runs): Ctrl-C stops the lesson and leaves it as it was."""
import os
import signal
import subprocess
import sys
import time

import nbformat


def test_ctrl_c_leaves_the_lesson_unchanged_and_exits_130(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\nprint('started', flush=True)"),
                                         nbformat.v4.new_code_cell("time.sleep(120)")])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    env = os.environ | {"TLCOURSE_PROFILE": "smoke", "TLCOURSE_CACHE": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "tlcourse.tools.cli", "run", str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    time.sleep(12)  # the kernel starts and reaches the sleeping cell
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: lesson.ipynb left unchanged" in out and "Traceback" not in out, out
    assert path.read_bytes() == before
