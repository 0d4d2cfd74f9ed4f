"""What a running lesson reads: the result files it opens, the result folders it lists, and the
size tables it asks for. `tlcourse run` sets TLCOURSE_READ_LOG for the lesson's kernel; each
first read is appended there as one JSON line, and the runbook records them in the lesson
(tools/freshness), so a test can tell when a committed lesson no longer shows what its files hold.
"""
import functools
import json
import os
import sys
from dataclasses import asdict

from .config import get_profile, RESULTS

LOG = "TLCOURSE_READ_LOG"  # the environment variable naming the log file
_seen = set()  # log lines already written by this process
_hooked = []  # holds True once the audit hook is installed (it cannot be removed)


def start() -> None:
    """Log this process's reads, if the runbook asked for it (a Python audit hook sees every open)."""
    if os.environ.get(LOG) and not _hooked:
        _hooked.append(True)
        sys.addaudithook(_hook)


def size_table(sizes):
    """Make `sizes` (a profile's name -> the sizes a lesson runs at, a dataclass) a lesson's size table:
    called with no name it answers for the active profile, and each answer is logged under the
    function's import path ("module:name"), where freshness finds the function to ask it again."""
    @functools.wraps(sizes)
    def logged(profile: str | None = None):
        name = profile or get_profile().name
        value = sizes(name)
        _append({"sizes": f"{sizes.__module__}:{sizes.__qualname__}", "profile": name, "value": asdict(value)})
        return value
    return logged


def _hook(event: str, args) -> None:
    if event not in ("open", "os.scandir", "os.listdir") or not isinstance(args[0], (str, bytes, os.PathLike)):
        return  # other events, and opens or listings by file descriptor (shutil.rmtree's)
    _result(args[0], "file" if event == "open" else "folder")


def _result(path, kind: str) -> None:
    path = os.path.abspath(os.fsdecode(os.fspath(path)))
    if path.startswith(str(RESULTS) + os.sep):
        _append({kind: os.path.relpath(path, RESULTS.parent)})


def _append(entry: dict) -> None:
    if not os.environ.get(LOG):
        return  # not under `tlcourse run`: nothing to log
    line = json.dumps(entry, sort_keys=True)
    if line not in _seen:
        _seen.add(line)
        with open(os.environ[LOG], "a") as log:
            log.write(line + "\n")
