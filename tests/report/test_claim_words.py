"""A lesson's words cannot outrun its verdicts: prose that states a claim as fact needs the claim shown."""
import json
from functools import lru_cache

import pytest

from tlcourse.engine.config import RESULTS, ROOT
from tlcourse.report import claims

LESSONS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


@lru_cache(maxsize=1)
def committed() -> dict:
    return {v.claim: v.verdict for v in claims.verdicts(RESULTS / "cpu")}


def test_a_planted_statement_of_a_claim_not_shown_is_caught():
    planted = "## Summary\n\n- Not all layers are equal: read the best one off the curve."
    assert [n for n, _ in claims.unsupported(planted, {4: claims.NOT_SHOWN})] == [4]
    assert claims.unsupported(planted, {4: claims.SHOWN}) == []
    assert claims.unsupported("Are not all layers equal? Is it true that “not all layers are equal”?",
                               {4: claims.NOT_SHOWN}) == []


def test_every_claim_can_be_caught_in_its_own_words():
    """Each claim's `says` catches the claim's own text, so none is left unguarded."""
    for n, c in claims.CLAIMS.items():
        assert c.says, f"claim {n} has no `says`"


def test_sentences_follow_the_verdict():
    base = dict(claim=4, text="not all layers are equal", expected="best − worst > 0", estimate=0.1, low=-1.7,
                high=1.9, unit="points", lesson="03", note="", measured="layer 5 − layer 4: +0.1 points")
    said = {v: claims.sentence(claims.Verdict(verdict=v, **base)) for v in (claims.SHOWN, claims.NOT_SHOWN,
                                                                          claims.OPPOSITE)}
    assert said[claims.SHOWN].startswith("**Shown here: not all layers are equal.")
    assert said[claims.NOT_SHOWN].startswith("**Not shown at this size")
    assert said[claims.OPPOSITE].startswith("**The opposite of “not all layers are equal” showed here")
    assert all(claims.unsupported(s, {4: v}) == [] for v, s in said.items())


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_prose_states_only_shown_claims(path):
    cells = json.loads(path.read_text())["cells"]
    found = [(i, n, text) for i, c in enumerate(cells) if c["cell_type"] == "markdown"
             for n, text in claims.unsupported("".join(c["source"]), committed())]
    assert not found, "\n".join(f"cell {i} states claim {n} ({committed()[n]}) as fact: {text!r}; say it with "
                                f"claims.say({n}, ...) instead" for i, n, text in found)
