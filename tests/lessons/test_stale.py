"""A stored result of lessons 10 and 11 is rerun when a size or an upstream artefact it was made from
changes (protocol.stored), and read back while nothing changed."""
from dataclasses import replace

import pytest

from tlcourse.lessons import preference_tuning as pr
from tlcourse.lessons import translation_sft as ts
from tlcourse.lessons.translation_sft import SIZES
from tlcourse.methods.translate import Translations


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("TLCOURSE_PROFILE", "smoke")


def test_a_changed_translation_size_reruns_the_result(tmp_path, monkeypatch, smoke):
    calls = []

    def translate(model, tokenizer, sources, references, examples=(), batch_size=16):
        calls.append(len(sources))
        return Translations(list(references), 1.0, 10)  # a perfect translator: no generation needed

    monkeypatch.setattr(ts, "translate", translate)
    monkeypatch.setattr(ts, "cost_measures", lambda *a: {"news_ppl": 10.0, "sentiment_acc": 0.5})
    first = ts.run_prompting(k=0, out_dir=tmp_path)
    assert ts.run_prompting(k=0, out_dir=tmp_path) == first and calls == [3]  # read back
    monkeypatch.setitem(SIZES, "smoke", replace(SIZES["smoke"], test_pairs=2))
    again = ts.run_prompting(k=0, out_dir=tmp_path)
    assert calls == [3, 2] and again["sizes"]["test_pairs"] == 2 and again["test_pairs"] == 2
    monkeypatch.setitem(SIZES, "smoke", replace(SIZES["smoke"], test_pairs=2, lora_lrs=(2e-3,)))
    ts.run_prompting(k=0, out_dir=tmp_path)
    assert calls == [3, 2, 2]  # any size of the lesson: the rule does not guess which runs it touches


def test_a_changed_preference_size_or_judge_reruns_the_result(tmp_path, monkeypatch, smoke):
    calls = []
    judge = pr.Judge(model=None, tokenizer=None, accuracy=0.8, key="judge-1", max_length=32)
    monkeypatch.setattr(pr, "load_judge", lambda profile=None: judge)

    def measure(model, tokenizer, judge, sizes, profile, seed):
        calls.append(sizes.test_prompts)
        return {"metrics": {"positive_share": 0.5}, "prompt_positive_share": [0.5] * sizes.test_prompts}

    monkeypatch.setattr(pr, "measure", measure)
    first = pr.run_method("before", out_dir=tmp_path)
    assert pr.run_method("before", out_dir=tmp_path) == first and calls == [4]
    monkeypatch.setitem(pr.SIZES, "smoke", replace(pr.SIZES["smoke"], test_prompts=3))
    assert pr.run_method("before", out_dir=tmp_path)["sizes"]["test_prompts"] == 3 and calls == [4, 3]
    monkeypatch.setattr(pr, "teacher_key", lambda profile: "judge-2")  # a retrained teacher: another judge
    assert pr.run_method("before", out_dir=tmp_path)["judge"] == "judge-2" and calls == [4, 3, 3]
