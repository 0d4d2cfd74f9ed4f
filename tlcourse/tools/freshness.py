"""Is a committed lesson still current? When `tlcourse run` executes a lesson, it records in the
notebook's metadata what the outputs were made from: the lesson's code, the profile and its
sizes, every result file it read (sha256) and every result folder it listed (the names in it),
the package version. `stale` recomputes each of these now and names what changed.
"""
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from .. import __version__
from ..engine.config import get_profile, LESSON_TIMES, LESSON_TIMES_FRESH, ROOT
from ..lessons import function

KEY = "tlcourse"  # the notebook metadata field


def stamp(nb, log: Path, profile: str, root: Path = ROOT) -> dict:
    """What `nb` (just executed in `profile`) was made from, given its kernel's read log."""
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    times = {f"results/{profile}/{name}" for name in (LESSON_TIMES, LESSON_TIMES_FRESH)}  # the runbook's own records
    files = sorted({e["file"] for e in entries if "file" in e} - times)
    folders = sorted({e["folder"] for e in entries if "folder" in e})
    return {"profile": profile, "profile_fields": _fields(profile), "version": __version__,
            "code": _code(nb),
            "sizes": {e["sizes"]: e["value"] for e in entries if "sizes" in e and e["profile"] == profile},
            "files": {f: _file_digest(root / f) for f in files if (root / f).is_file()},
            "folders": {f: _folder_digest(root / f) for f in folders if (root / f).is_dir()}}


def stale(nb, root: Path = ROOT) -> list[str]:
    """What changed since `nb` was executed (empty: its outputs are current)."""
    record = nb.metadata.get(KEY)
    if record is None:
        return ["never executed by `tlcourse run` (no record of what it read)"]
    why = []
    if record["version"] != __version__:
        why.append(f"the package is {__version__}, the lesson ran under {record['version']}")
    if record["code"] != _code(nb):
        why.append("its code cells changed")
    if record["profile_fields"] != _fields(record["profile"]):
        why.append(f"the {record['profile']} profile changed")
    for table, value in record["sizes"].items():
        if _sizes(table, record["profile"]) != value:
            why.append(f"the sizes of {table} changed")
    for name, digest in record["files"].items():
        if not (root / name).is_file():
            why.append(f"{name} is gone")
        elif _file_digest(root / name) != digest:
            why.append(f"{name} changed")
    for name, digest in record["folders"].items():
        if not (root / name).is_dir() or _folder_digest(root / name) != digest:
            why.append(f"{name}/ gained or lost files")
    return why


def _sizes(table: str, profile: str) -> dict | None:
    """What the size table recorded as "module:name" (engine.reads.size_table) gives now; None: gone."""
    try:
        sizes = function(table)
    except (ImportError, AttributeError, ValueError):
        return None
    return _plain(asdict(sizes.__wrapped__(profile)))


def _fields(profile: str) -> dict:
    return _plain(asdict(get_profile(profile)))


def _plain(value):
    """`value` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def _code(nb) -> str:
    text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _folder_digest(path: Path) -> str:
    """A digest of the folder's listing, the runbook's own time records left out (a first `make course`
    writes LESSON_TIMES_FRESH: that stales no lesson)."""
    names = sorted(p.name for p in path.iterdir() if p.name not in (LESSON_TIMES, LESSON_TIMES_FRESH))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
