"""`tlcourse run` (what `make course` runs): Ctrl-C stops the lesson and leaves it as it was."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat


def _as_from_a_terminal():
    """In the child before it starts: Ctrl-C reaches a command started from a terminal, so SIGINT is neither
    ignored nor blocked there. A test worker may carry either (a signal mask is inherited by fork, and a
    library may block SIGINT while it spawns a helper), and Python leaves an inherited ignore in place."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_state(pid: int) -> str:
    """The child's blocked, ignored and caught signal masks, for a failure message."""
    status = Path(f"/proc/{pid}/status")
    lines = status.read_text().splitlines() if status.exists() else []
    return " ".join(line for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def test_ctrl_c_leaves_the_lesson_unchanged_and_exits_130(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import pathlib, time"),
                                         nbformat.v4.new_code_cell("pathlib.Path('sleeping').touch()\ntime.sleep(120)")])
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    env = os.environ | {"TLCOURSE_PROFILE": "smoke", "TLCOURSE_CACHE": str(tmp_path)}
    log = tmp_path / "output.txt"  # a file, not a pipe: a kernel's leftover child holding a pipe open would hang the read
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "tlcourse.tools.cli", "run", str(path)], stdout=sink,
                                stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
                                preexec_fn=_as_from_a_terminal)
    for _ in range(240):  # the kernel starts (slowly on a busy machine) and reaches the sleeping cell
        if (tmp_path / "sleeping").exists():
            break
        time.sleep(0.5)
    for _ in range(6):  # Ctrl-C, again if the first one is not answered (as a user would)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        state = _signal_state(proc.pid)
        proc.kill()
        raise AssertionError(f"tlcourse run did not stop after six Ctrl-C ({state}):\n" + log.read_text())
    out = log.read_text()
    assert proc.returncode == 130, out
    assert "interrupted: lesson.ipynb left unchanged" in out and "Traceback" not in out, out
    assert path.read_bytes() == before


def test_a_run_that_begins_with_empty_caches_records_fresh_clone_times(tmp_path, monkeypatch):
    import json
    from tlcourse.engine.config import LESSON_TIMES, LESSON_TIMES_FRESH
    from tlcourse.tools import runbook
    monkeypatch.setattr(runbook, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(runbook, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(runbook, "_run_or_interrupted", lambda path: 42.0)
    runbook.run(["00_lesson.ipynb"])
    (tmp_path / "cache" / "trained" / "full-model").mkdir(parents=True)  # what the first lessons leave
    runbook.run(["01_lesson.ipynb"])
    folder = tmp_path / "results" / "smoke"
    assert json.loads((folder / LESSON_TIMES_FRESH).read_text()) == {"00_lesson.ipynb": 42.0}
    assert json.loads((folder / LESSON_TIMES).read_text()) == {"01_lesson.ipynb": 42.0}
