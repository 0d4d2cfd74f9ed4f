"""Execute lesson notebooks in place (the `cpu` profile by default) and keep their outputs clean.

Outputs are committed, so they must not hold machine paths, timestamps or tokens that make
diffs noisy: after running, the checkout's path is replaced by "." and cell timing is dropped.
"""
import atexit
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from ..engine import reads
from ..engine.config import CACHE, LESSON_TIMES, LESSON_TIMES_FRESH, profile_name, RESULTS, ROOT
from . import freshness


SECRET = re.compile(r"hf_[A-Za-z0-9]{20,}")  # a hub token pasted into a cell
CELL_FILE = re.compile(r"/[^\s:]*/ipykernel_\d+/\d+\.py")  # where a warning raised in a cell points


PROGRESS = re.compile(r"\d+%\|.*\| *[\d.?]+[kMG]?/[\d.?]+")  # a tqdm bar's text: " 40%|████  | 2/5"
REPR = re.compile(r"<[\w.]+ (object )?at 0x[0-9a-f]+>")  # an object's default repr: "<...Styler at 0x7f...>"


def clean(nb) -> None:
    """Strip machine paths, run timestamps, anything that looks like a hub token, object reprs shown
    as the text beside an HTML table, and progress-bar widgets: their state is not saved, so a
    committed one could only show its text fallback, frozen at whatever it read when first drawn
    (usually 0%)."""
    bars = _progress_models(nb)
    nb.metadata.pop("widgets", None)
    home = str(Path.home())
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "outputs" in cell:
            cell.outputs = [out for out in cell.outputs if not _progress_widget(out, bars)]
        for out in cell.get("outputs", []):
            _drop_repr_fallback(out)
            for key in ("text", "data"):
                if key in out:
                    out[key] = _scrub(out[key], home)


def _drop_repr_fallback(out) -> None:
    """A styled table's plain-text fallback is its object repr; where HTML is there, keep only that."""
    data = out.get("data", {})
    if "text/html" in data and REPR.fullmatch("".join(data.get("text/plain", "")).strip()):
        del data["text/plain"]


def _progress_models(nb) -> set:
    """The widgets that are progress bars, by the widget state nbclient saved with the run: a box
    holding a progress model (tqdm's: HTML, FloatProgress, HTML). Their text cannot tell: ipywidgets cuts
    a widget's text at 110 characters, so a bar with a long description (lesson 08's "full__data-cache-
    ...: choosing on validation:   0…") never shows its "0%|"."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    progress = {f"IPY_MODEL_{k}" for k, v in state.items() if v.get("model_name") in ("FloatProgressModel", "IntProgressModel")}
    return {k for k, v in state.items() if progress & set(v.get("state", {}).get("children") or ())}


def _progress_widget(out, bars=frozenset()) -> bool:
    data = out.get("data", {})
    view = data.get("application/vnd.jupyter.widget-view+json")
    return view is not None and (view.get("model_id") in bars or bool(PROGRESS.search("".join(data.get("text/plain", "")))))


def _scrub(value, home: str):
    if isinstance(value, str):
        value = value.replace(str(ROOT), ".").replace(home, "~")
        return CELL_FILE.sub("<cell>", SECRET.sub("hf_***", value))
    if isinstance(value, dict):
        return {k: (_scrub(v, home) if k.startswith("text") else v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, home) for v in value]
    return value


def run_notebook(path: Path, timeout: int = 1800, clients: list | None = None) -> float:
    """Execute one notebook in place, from its own folder; returns wall seconds.

    The file is written only once every cell has run: a run that stops early leaves it as it was.
    clients: a list the NotebookClient is appended to (so another thread can stop its kernel)."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="tlcourse-kernel-") as sockets:
        log = Path(sockets) / "reads.jsonl"
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", config=_local_kernel(sockets),
                                resources={"metadata": {"path": str(path.parent)}})
        if clients is not None:
            clients.append(client)
        client.execute(env=os.environ | {reads.LOG: str(log)})  # the kernel's environment only
        nb.metadata[freshness.KEY] = freshness.stamp(nb, log, profile_name())
    clean(nb)
    nbformat.write(nb, path)
    return time.time() - start


def _local_kernel(sockets: str):
    """Talk to the kernel over IPC sockets in a private folder instead of TCP ports: nothing is
    reachable from the network, and the kernel has no cause to warn, once per lesson, that its
    TCP traffic is unencrypted. IPC sockets exist on POSIX only; elsewhere TCP stays."""
    from traitlets.config import Config
    if os.name != "posix":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": f"{sockets}/kernel"}})


class Interrupted(Exception):
    """Ctrl-C stopped a lesson; it is left as it was on disk."""


def _run_or_interrupted(path: Path) -> float:
    """run_notebook in a worker thread, so Ctrl-C reaches this thread as KeyboardInterrupt (nbclient
    installs its own SIGINT handler only in the main thread, and its clean-up after one raises an
    unrelated AssertionError). On Ctrl-C the kernel is killed and Interrupted raised."""
    clients, outcome = [], {}

    def work():
        try:
            outcome["seconds"] = run_notebook(path, clients=clients)
        except BaseException as err:  # handed to the main thread
            outcome["error"] = err

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        for client in clients:
            _kill_kernel(client)
        raise Interrupted(path.name) from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["seconds"]


def _kill_kernel(client) -> None:
    atexit.unregister(client._cleanup_kernel)  # the kernel is gone: nothing left to clean up at exit
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        process.kill()


def run(paths) -> dict:
    """Run each notebook; print the wall time of each and record it in LESSON_TIMES, or in
    LESSON_TIMES_FRESH when the run began with no trained model or adapted encoder in data/cache/
    (a fresh clone: its lessons also train what later ones read from the cache)."""
    fresh = not any(CACHE.glob("trained/*")) and not any(CACHE.glob("adapted/*"))
    times_file = RESULTS / profile_name() / (LESSON_TIMES_FRESH if fresh else LESSON_TIMES)
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    print(f"running {len(paths)} notebook(s) in the {profile_name()} profile" + (", caches empty" if fresh else ""))
    for path in map(Path, paths):
        times[path.name] = round(_run_or_interrupted(path), 1)
        print(f"  {path.name:40s} {times[path.name]:7.1f} s", flush=True)
        times_file.parent.mkdir(parents=True, exist_ok=True)
        times_file.write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
    return times

