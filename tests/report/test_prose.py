"""What a lesson's prose may say: no time typed as a number. A typed time goes stale the first time
the machine, the profile or the code changes ("trains for 2 minutes" while the cell prints 47 s).
Times a learner reads come from the runbook's records (`tlcourse.lesson_time`, the set-up cells)
and from the result files' `wall_time_s`, printed by code; prose says it without a number
("the longest step of this lesson")."""
import re

import nbformat
import pytest

from tlcourse.engine.config import ROOT

_DIGITS = r"\d+(?:[.,]\d+)?"
_WORDS = (r"(?:an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
          r"fifty|sixty|a few|few|several|a couple of|couple of)")
_RANGE = r"(?:\s*(?:–|-|to|or)\s*{n})?"
TYPED_TIME = re.compile(
    # 47 s, 2 minutes, 3.28 vs 7.21 min, 1–2 minutes, 4 to 5 minutes, a 10-minute run, 2 h, 30 ms
    # ("s" and "h" alone only after a space: the 1990s is no time)
    rf"\b{_DIGITS}{_RANGE.format(n=_DIGITS)}(?:[\s\u00a0-]?(?:seconds?|secs?|ms|minutes?|mins?|min|hours?|hrs?|days?)"
    rf"|[\s\u00a0](?:s|h))\b"
    # a minute, an hour, about a minute or two, a few minutes, fifteen minutes ("a second run" is not a time)
    rf"|\b{_WORDS}{_RANGE.format(n=_WORDS)}[\s-](?:seconds|minutes?|hours?|days?)\b", re.IGNORECASE)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)  # code in markdown is code, not prose


def typed_times(markdown: str) -> list[str]:
    """The times typed as numbers in one markdown text, code spans left out."""
    return [m.group() for m in TYPED_TIME.finditer(CODE.sub(" ", markdown))]


def notebooks():
    return sorted(p for folder in ("notebooks", "solutions") for p in (ROOT / folder).glob("*.ipynb"))


@pytest.mark.parametrize("text, found", [
    ("**Time.** `cpu`: about 3 minutes on two idle cores (the tiny GPT trains for 2 minutes)", ["3 minutes", "2 minutes"]),
    ("SmolLM2 reads them four times, at a bit over a minute each; MiniLM takes seconds", ["a minute"]),
    ("running it here instead took 15 minutes on two idle cores", ["15 minutes"]),
    ("`smoke`: under a minute · `cpu`: 1–2 minutes · `gpu`: a few minutes", ["a minute", "1–2 minutes", "a few minutes"]),
    ("zero- and few-shot 20 s a run, SFT 4 to 5 minutes a run, about an hour in all", ["20 s", "4 to 5 minutes", "an hour"]),
    ("Raschka's runs: 3.28 vs 7.21 min; a 10-minute job; 2 h; 40 ms per step; a minute or two",
     ["7.21 min", "10-minute", "2 h", "40 ms", "a minute"]),
])
def test_a_planted_typed_time_is_found(text, found):
    assert typed_times(text) == found


@pytest.mark.parametrize("text", [
    "880 of 960 texts are longer than 192 tokens; blocks of 128 tokens, 22.7M parameters, 64 GiB, 384-d features",
    "SmolLM2-135M, 3 seeds, 8 epochs, 2e-4, 1,000 reviews, 16 bytes per parameter, 1.5B parameters, 48 GB GPU",
    "A second run, the same in every way; each cell runs in seconds; minutes, not GPU-years",
    "the longest step of this lesson; the set-up cell prints its time; `TrainConfig(epochs=2)`; 1990s reviews",
    "`sleep 5s` in a code span is code",
])
def test_numbers_that_are_not_times_pass(text):
    assert typed_times(text) == []


def test_lesson_and_solution_prose_types_no_time():
    found = []
    for path in notebooks():
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "markdown" and (hits := typed_times(cell.source)):
                found.append(f"{path.parent.name}/{path.name} cell {i}: {hits}")
    assert not found, ("times typed into markdown go stale: print them from the runbook's records "
                       "(tlcourse.lesson_time) or the result files' wall_time_s, or say it without a number:\n"
                       + "\n".join(found))


def test_the_line_a_set_up_cell_prints_comes_from_the_runbook_records(tmp_path, monkeypatch):
    import json
    from tlcourse.engine.config import LESSON_TIMES, LESSON_TIMES_FRESH
    from tlcourse.report import tables
    (tmp_path / "results" / "cpu").mkdir(parents=True)
    (tmp_path / "results" / "cpu" / LESSON_TIMES).write_text(json.dumps({"01_x.ipynb": 47.2}))
    (tmp_path / "results" / "cpu" / LESSON_TIMES_FRESH).write_text(json.dumps({"01_x.ipynb": 110.2}))
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    line = tables.lesson_time("01_x.ipynb")
    assert "cpu 1.8 min from a fresh clone, 47 s with warm caches; gpu not recorded yet" in line
    assert typed_times(line) == ["1.8 min", "47 s"]  # the same words would fail in prose: printed, they are current


def listed_claims(markdown: str) -> set[int]:
    """The claims a lesson's opening says it shows: the bold numbers of its "shown here" list (the
    list ends at the sentence's end or a semicolon, asides in brackets left out), or its table's rows."""
    at = markdown.find("shown here")
    if at < 0:
        return set()
    text = re.sub(r"\([^()]*\)", "", markdown[at:])
    sentence = re.split(r";|\.\s|\n\n", text, maxsplit=1)[0]
    listed = {int(n) for n in re.findall(r"\*\*(\d+)\*\*", sentence)}
    return listed or {int(n) for n in re.findall(r"^\| (\d+) \|", text.split("\n\n|", 1)[-1].split("\n\n")[0], re.M)}


def shown_claims(nb) -> set[int]:
    """The claims a lesson's code prints with claims.show(...)."""
    calls = (m.group(1) for c in nb.cells if c.cell_type == "code" for m in re.finditer(r"claims\.show\(([^)]*)\)", c.source))
    return {int(n) for args in calls for n in re.findall(r"\b\d+\b", args.split("folder")[0])}


def test_planted_claim_lists_are_read():
    assert listed_claims("Claims of the course shown here: **6** (a; b), **11** (forgetting), **15** (cost).") == {6, 11, 15}
    assert listed_claims("Claim of the course shown here: **2** (x); the runs are the first point of claim **14**.") == {2}
    assert listed_claims("Claims shown here: **10** (y). Section 2 measures more; claim **11** is judged in 06.") == {10}
    assert listed_claims("Claims of the course shown here (CLAIMS.md):\n\n| # | claim |\n|---|---|\n| 16 | a |\n| 17 | b |") == {16, 17}


def test_every_claim_a_lesson_lists_is_printed_there():
    """A lesson that lists a claim as shown prints its verdict (claims.show); a claim judged elsewhere
    is named as such, outside the list."""
    missing = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if lost := listed_claims(nb.cells[0].source) - shown_claims(nb):
            missing[path.name] = sorted(lost)
    assert not missing, f"listed as shown but never printed with claims.show: {missing}"
