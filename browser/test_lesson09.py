"""Lesson 09 as a learner meets it: JupyterLab in headless Chromium (Debian's), smoke profile.

The Run menu runs every cell; the tests then read the page: no error output, widgets that render,
an explorer whose untouched answer matches the table above it, that at 16 labels advises no method
below zero-shot, and that reacts to a slider.
`make test-browser` runs this folder (it needs Chromium and Playwright); `make test` does not.
The tests share one run of the lesson and run in file order: the slider test moves a slider last.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from tlcourse.lessons.curves import ZERO_SHOT

ROOT = Path(__file__).resolve().parent.parent
LESSON = "09_choosing_the_approach.ipynb"
ARTIFACTS = ROOT / "browser-test"  # git-ignored: screenshot and JupyterLab's log
CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser build that Playwright downloads
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",  # closed network:
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # no calls out
LAB_SETTINGS = {  # JupyterLab user settings for the run
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},  # every cell stays in the page
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
START_TIMEOUT_S, RUN_TIMEOUT_S, UI_TIMEOUT_MS = 60, 150, 20_000
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'  # also where errors render
PROMPTS = ".jp-Notebook .jp-CodeCell .jp-InputPrompt"
STATUS = "#jp-main-statusbar"  # shows "Python 3 (ipykernel) | Idle"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for failure messages."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def write_settings(folder: Path):
    """JupyterLab user settings (LAB_SETTINGS) as files in a settings folder of the run's own."""
    for name, values in LAB_SETTINGS.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def wait_until_up(proc, url: str, token: str, log: Path):
    """Poll the server's status API until it answers; fail with the log's tail if it exits or times out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {proc.returncode} before answering. Log:\n{tail(log)}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer on {url} within {START_TIMEOUT_S} s. Log:\n{tail(log)}")


def stop(proc):
    """Shut JupyterLab down as SIGTERM asks it to (kernels first); kill its process group if it hangs."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """JupyterLab on a free loopback port with a token, in the smoke profile, serving a copy of
    notebooks/ so the lesson on disk is never saved over; stopped at the end, also on failure."""
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    write_settings(home / "settings")
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "jupyterlab.log"
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "TLCOURSE_PROFILE": "smoke",
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
           f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={home / 'notebooks'}", f"--LabApp.user_settings_dir={home / 'settings'}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(proc, url, token, log)
        yield url, token
    finally:
        stop(proc)


def menu(page, top: str, item: str):
    """Click `item` in JupyterLab's menu `top`, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def wait_for(page, condition: str, what: str, timeout_s: float):
    """Wait until the JS `condition` (given PROMPTS and STATUS) holds; else fail saying `what` did
    not happen in time, with the kernel's status and every code cell's prompt."""
    try:
        page.wait_for_function(condition, arg=[PROMPTS, STATUS], timeout=timeout_s * 1000)
    except PlaywrightError:
        pytest.fail(f"{what} within {timeout_s} s; status bar: {page.locator(STATUS).inner_text()!r}; "
                    f"cell prompts: {page.locator(PROMPTS).all_inner_texts()}")


def run_all_cells(page):
    """Once the kernel is idle: clear the saved outputs, Run All Cells, and wait until the first cell
    has run, none is pending ("[*]") and the kernel is idle again."""
    wait_for(page, "([p, s]) => /\\| Idle/.test(document.querySelector(s)?.textContent)",
             "the kernel was not idle", START_TIMEOUT_S)
    menu(page, "Edit", "Clear Outputs of All Cells")
    menu(page, "Run", "Run All Cells")
    wait_for(page, """([p, s]) => {
        const prompts = [...document.querySelectorAll(p)].map(e => e.textContent.trim());
        return /^\\[\\d+\\]:$/.test(prompts[0]) && !prompts.includes("[*]:")
            && /\\| Idle/.test(document.querySelector(s).textContent);
    }""", "lesson 09 did not finish", RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def lesson(server):
    """Lesson 09 open in headless Chromium, every cell run; a screenshot is saved at the end, also on failure."""
    url, token = server
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        page = browser.pages[0]
        page.set_default_timeout(UI_TIMEOUT_MS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            page.goto(f"{url}/lab/tree/{LESSON}?token={token}")
            run_all_cells(page)
            yield page
        finally:
            page.screenshot(path=ARTIFACTS / "lesson09.png")
            browser.close()


def slider(page, name: str):
    """The ipywidgets slider whose description is `name`."""
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".widget-slider").filter(has=label)


def explorer_output(page):
    """The explorer's printed recommendation: the output widget beside its "time s" slider."""
    return page.locator(".widget-vbox").filter(has=slider(page, "time s")).locator(".widget-output")


def table_row(page, label: str) -> dict:
    """The row labelled `label` of the course's situations table (a DataFrame), as {column: text}.
    It is the first such row in the page: the own-data section below the explorer has its own."""
    rows = page.locator("table.dataframe tbody tr").filter(
        has=page.locator("th", has_text=re.compile(f"^{re.escape(label)}$")))
    expect(rows.first).to_be_visible()
    row = rows.first
    header = row.locator("xpath=ancestor::table").locator("thead th").all_inner_texts()
    return dict(zip(header[1:], row.locator("td").all_inner_texts()))


def test_no_error_output(lesson):
    """No cell printed an error or traceback (JupyterLab renders error outputs as stderr too)."""
    errors = lesson.locator(STDERR).filter(has_text=re.compile("Error|Traceback"))
    assert errors.count() == 0, "error output in lesson 09:\n" + "\n---\n".join(errors.all_inner_texts())


def test_widgets_render(lesson):
    """ipywidgets rendered: no "Error displaying widget", and the explorer's sliders are on the page."""
    expect(lesson.get_by_text("Error displaying widget")).to_have_count(0)
    for name in ("labels", "time s", "memory MB", "saved MB"):
        expect(slider(lesson, name)).to_be_visible()
    expect(explorer_output(lesson)).to_contain_text("->")


def test_default_answer_matches_table(lesson):
    """With untouched sliders (budgets at their right end: no limit) the explorer names the method
    that the situations table above it gives for the same label count with no budget."""
    labels = slider(lesson, "labels").locator(".widget-readout").inner_text().strip()
    text = explorer_output(lesson).inner_text()
    answer = re.search(r"-> (\S+):", text).group(1)
    expected = table_row(lesson, f"{labels} labels, no budget")["method"]
    assert answer == expected, (f"at {labels} labels with untouched sliders the explorer says {answer}, "
                                f"the table above it says {expected}:\n{text}")


def test_sixteen_labels_advise_nothing_below_zero_shot(lesson):
    """Typing 16 into the labels slider's readout, as a learner can, the explorer names no trained method
    whose interval against zero-shot lies below 0 (its advice lists those "below it"); with so few labels
    the lesson's runs leave zero-shot as the answer: don't train."""
    readout = slider(lesson, "labels").locator(".widget-readout")
    readout.fill("16")
    readout.press("Enter")
    output = explorer_output(lesson)
    expect(output).to_contain_text("at 16 labels")
    text = output.inner_text()
    answer = re.search(r"-> (\S+):", text).group(1)
    below = re.findall(r"- (\S+) \([\d.]+%\) is [^\n]*: below it\.", text)
    assert answer not in below, f"at 16 labels the explorer recommends {answer}, which lies below zero-shot:\n{text}"
    assert answer == ZERO_SHOT and "don't train" in text, f"at 16 labels zero-shot was not the answer:\n{text}"


def test_moving_the_time_budget_changes_the_answer(lesson):
    """Dragging the "time s" budget slider to its left end (below every measured run) changes the
    explorer's printed recommendation."""
    before = explorer_output(lesson).inner_text()
    time_budget = slider(lesson, "time s")
    track = time_budget.locator(".noUi-base")
    track.scroll_into_view_if_needed()
    height = track.bounding_box()["height"]
    time_budget.locator(".noUi-handle").drag_to(track, target_position={"x": 0, "y": height / 2})
    expect(explorer_output(lesson)).not_to_have_text(before)
