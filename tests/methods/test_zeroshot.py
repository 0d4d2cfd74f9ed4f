"""Zero-shot baselines: label-word scoring, padding, few-shot choice, embedding similarity, results."""
import json

import numpy as np
import pytest
import torch

import tlcourse
from tlcourse.engine.config import get_profile
from tlcourse.lessons.zero_shot import run_baseline
from tlcourse.methods.zeroshot import Prompt, embed_similarity, fewshot_prompt, label_logprobs, label_token_ids

REVIEWS = ["A gorgeous, moving film.", "Dull.", "The plot wanders, but the actors are wonderful to watch "
           "and the music is lovely.", "I have rarely been so bored in a cinema."]


@pytest.fixture(scope="module")
def lm():
    return tlcourse.load_model("smollm2-135m", task="causal-lm"), tlcourse.load_tokenizer("smollm2-135m")


@pytest.fixture(scope="module")
def encoder():
    return tlcourse.load_model("minilm-l6"), tlcourse.load_tokenizer("minilm-l6")


def test_in_context_examples_decide_the_label(lm):
    """Four shots that all say one label make that label's word the more likely next token."""
    model, tok = lm
    for label in (0, 1):
        prompt = Prompt(examples=tuple((f"Film number {i}.", label) for i in range(4)))
        logp = label_logprobs(model, tok, ["Film number 9."], prompt, progress=False)  # (1, 2)
        assert logp.argmax(1)[0] == label


@pytest.mark.parametrize("prompt", [Prompt(), Prompt(chat=True, label_words=("negative", "positive")),
                                    Prompt(examples=(("Loved it.", 1), ("Hated it.", 0)))])
def test_batched_scores_equal_one_full_prompt_at_a_time(lm, prompt, monkeypatch):
    """Cached prefix + right padding + length sorting give what the plain full prompt gives."""
    monkeypatch.setenv("TLCOURSE_PRECISION", "fp32")  # an exact comparison: bf16 rounds differently per batch
    model, tok = lm
    batched = label_logprobs(model, tok, REVIEWS, prompt, batch_size=3, progress=False)  # (4, 2)
    words = label_token_ids(tok, prompt.label_words)
    for row, text in zip(batched, REVIEWS):
        ids = torch.tensor([tok(prompt.render(tok, text))["input_ids"]])  # (1, T)
        with torch.no_grad():
            expected = model(input_ids=ids).logits[0, -1].log_softmax(-1)[words].numpy()
        np.testing.assert_allclose(row, expected, atol=1e-4)


def test_bad_input_says_what_is_wrong(lm):
    model, tok = lm
    with pytest.raises(ValueError, match="no texts"):
        label_logprobs(model, tok, [], progress=False)
    with pytest.raises(ValueError, match="at least two"):
        label_token_ids(tok, [])
    with pytest.raises(ValueError, match="exactly one token.*' unenthusiastically'"):
        label_token_ids(tok, [" unenthusiastically", " positive"])
    with pytest.raises(ValueError, match="different tokens"):
        label_token_ids(tok, [" good", " good"])


def test_fewshot_examples_are_balanced_and_depend_on_the_seed():
    train = {"text": [f"review {i}" for i in range(40)], "label": [i % 2 for i in range(40)]}
    rows = [{"text": t, "label": y} for t, y in zip(train["text"], train["label"])]

    class Split(list):  # a datasets.Dataset's two ways in: split["label"] and split[i]
        def __getitem__(self, key):
            return train[key] if isinstance(key, str) else rows[key]
    shots = {seed: fewshot_prompt(Split(rows), k=6, seed=seed).examples for seed in (0, 1)}
    assert sorted(y for _, y in shots[0]) == [0, 0, 0, 1, 1, 1]
    assert shots[0] != shots[1]
    with pytest.raises(ValueError, match="multiple of 2"):
        fewshot_prompt(Split(rows), k=3, seed=0)


def test_embedding_similarity_on_obvious_reviews(encoder):
    model, tok = encoder
    texts = ["A wonderful, beautiful film: I loved every minute.", "Awful and boring. I hated this movie."]
    sims = embed_similarity(model, tok, texts, progress=False)  # (2, 2)
    assert sims.shape == (2, 2) and np.all(np.abs(sims) <= 1 + 1e-6)
    assert list(sims.argmax(1)) == [1, 0]


def test_result_file_has_the_fields(tmp_path):
    profile = get_profile("smoke", eval_size=8)
    record = run_baseline("fewshot-lm", seed=1, k=2, out_dir=tmp_path, profile=profile)
    (path,) = tmp_path.glob("*.json")
    assert path.name == "fewshot-lm__smollm2-135m__rotten_tomatoes__smoke__seed1.json"
    assert json.loads(path.read_text()) == record
    assert record["method"] == "fewshot-lm" and record["data"] == "rotten_tomatoes"
    assert 0 <= record["metrics"]["accuracy"] <= 1
    assert record["trainable_params"] == 0 and record["checkpoint_size_mb"] == 0
    assert record["total_params"] > 100e6 and record["train_size"] == 2
    assert np.sum(record["confusion"]) == 8 and record["wall_time_s"] > 0


def test_unknown_baseline_is_refused():
    with pytest.raises(ValueError, match="zeroshot-lm"):
        run_baseline("zeroshot-gpt")


def test_exercise_checks_accept_the_answer_and_name_the_mistake():
    from tlcourse.checks.zero_shot import check_calibrated_accuracy, check_cosine, check_label_probs
    rng = np.random.default_rng(0)
    logp = np.log(rng.uniform(0.01, 0.2, size=(50, 2)))
    check_label_probs(np.exp(logp) / np.exp(logp).sum(1, keepdims=True), logp)
    with pytest.raises(AssertionError, match="do not sum to 1"):
        check_label_probs(np.exp(logp), logp)
    y, cf = rng.integers(0, 2, 50), np.log([0.02, 0.2])
    calibrated = float(np.mean((logp - cf).argmax(1) == y))
    check_calibrated_accuracy(calibrated, logp, cf, y)
    with pytest.raises(AssertionError, match="percentage"):
        check_calibrated_accuracy(100 * calibrated, logp, cf, y)
    X, D = rng.normal(size=(5, 8)), rng.normal(size=(2, 8))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    check_cosine(unit(X) @ unit(D).T, X, D)
    with pytest.raises(AssertionError, match="dot products"):
        check_cosine(X @ D.T, X, D)
    with pytest.raises(AssertionError, match="transposed"):
        check_cosine(unit(D) @ unit(X).T, X, D)
