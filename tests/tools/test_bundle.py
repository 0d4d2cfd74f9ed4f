"""The offline bundle: assets come from it instead of PyPI, its checksums catch a bad copy, and
(`make test-bundle`, after `make test` in .ci/run) a fresh venv sets the course up from it alone
inside a network namespace with no network, then `tlcourse doctor` verifies every asset."""
import hashlib
import os
import shutil
import subprocess

import pytest

from tlcourse.engine import assets
from tlcourse.engine.config import ROOT
from tlcourse.tools import bundle

BUNDLE = os.environ.get("TLCOURSE_TEST_BUNDLE")  # set by `make test-bundle`
NO_NETWORK = "import socket\ntry: socket.create_connection(('pypi.org', 443), 3)\nexcept OSError: pass\nelse: raise SystemExit('network reachable')"


@pytest.fixture
def one_package(tmp_path, monkeypatch):
    """A manifest of one package whose file lies in a bundle's assets/; PyPI must not be asked."""
    data = b"not really a wheel"
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "pkg-1.0-py3-none-any.whl").write_bytes(data)
    spec = {"version": "1.0", "file": "pkg-1.0-py3-none-any.whl", "sha256": hashlib.sha256(data).hexdigest()}
    monkeypatch.setattr(assets, "manifest", lambda: {"packages": {"pkg": spec}})
    monkeypatch.setattr(assets, "_pip_download", lambda *a: pytest.fail("asked PyPI"))
    monkeypatch.setenv("TLCOURSE_BUNDLE", str(tmp_path))
    return tmp_path / "assets" / spec["file"]


def test_download_reads_the_bundle_and_still_checks_the_sha256(one_package, tmp_path):
    assert assets.download("pkg", tmp_path / "unused") == one_package
    one_package.write_bytes(b"corrupt")
    with pytest.raises(assets.CorruptAssetError):
        assets.download("pkg", tmp_path / "unused")
    one_package.unlink()
    with pytest.raises(assets.AssetError, match="make bundle"):
        assets.download("pkg", tmp_path / "unused")


def test_checksums_catch_a_corrupt_or_missing_file(tmp_path):
    (tmp_path / "wheels").mkdir()
    names = ("wheels/a.whl", "wheels/b.whl", "README.txt")
    for name in names:
        (tmp_path / name).write_text(name)
    assert bundle.write_sums(tmp_path) == sum(map(len, names)), "the size in bytes"
    assert bundle.check_sums(tmp_path) == []
    (tmp_path / "wheels" / "a.whl").write_text("flipped bit")
    (tmp_path / "README.txt").unlink()
    assert bundle.check_sums(tmp_path) == ["README.txt", "wheels/a.whl"]
    with pytest.raises(assets.AssetError, match="Copy it again"):
        bundle.check_or_explain(tmp_path)


@pytest.mark.skipif(not BUNDLE, reason="sets up a whole venv (minutes): run by `make test-bundle`")
@pytest.mark.skipif(not shutil.which("unshare"), reason="needs util-linux unshare for a namespace with no network")
def test_a_fresh_venv_sets_up_from_the_bundle_with_no_network(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TLCOURSE_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull,  # this machine's pip settings (local indexes) play no part
            "TLCOURSE_CACHE": str(tmp_path / "cache")}  # a fresh cache: every asset from the bundle
    script = (f"python3 -c \"{NO_NETWORK}\" && "
              f"make -s prefetch doctor VENV={tmp_path / 'venv'} BUNDLE={BUNDLE}")
    done = subprocess.run(["unshare", "--map-root-user", "--net", "sh", "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "all assets verified" in done.stdout, done.stdout[-3000:]
    assert (tmp_path / "cache" / "raw").is_dir() and (tmp_path / "venv" / "bin" / "tlcourse").exists()
