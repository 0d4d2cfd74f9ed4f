"""Tokenisers, perplexity, sampling, LM blocks, the tiny GPT and the exercise checks (lesson 01)."""
import math

import pytest
import torch

import tlcourse
from tlcourse.checks.llm_basics import (check_blocks, check_chars_per_token, check_next_token,
                                        check_perplexity)
from tlcourse.methods.lm import (next_token_probs, pack_blocks, perplexity, sample, shuffle_words, token_nll,
                         windows)
from tlcourse.methods.pretrain import TinyGPTConfig, tiny_gpt, train_tiny_gpt
from tlcourse.methods.tokens import compare_tokenizers, encode, pieces, show_tokens

TEXT = "Tokenisation isn't trivial: naïve splits fail on 'unbelievably' long words."


@pytest.fixture(scope="module")
def smol():
    return tlcourse.load_model("smollm2-135m")


@pytest.fixture(scope="module")
def news():  # three held-out articles, cut to their first sentences
    return [t[:300] for t in tlcourse.load_dataset("news_articles")["validation"]["text"][:3]]


@pytest.fixture(scope="module")
def tiny(tok):  # random weights: enough to test masking and shapes in milliseconds
    return tiny_gpt(tok, TinyGPTConfig(n_layer=1, n_embd=32, n_head=2), block_size=64)


def test_bpe_pieces_rebuild_the_text_and_wordpiece_lowercases():
    assert "".join(pieces("gpt2-bpe", TEXT)) == TEXT
    assert "".join(pieces("smollm2-135m", TEXT)) == TEXT
    word_pieces = pieces("minilm-l6", TEXT)
    assert "token" in word_pieces and any(p.startswith("##") for p in word_pieces)
    table = show_tokens(TEXT)
    assert list(table.index) == ["minilm-l6", "smollm2-135m", "gpt2-bpe"]
    assert table.loc["gpt2-bpe", "vocab"] == 50257


def test_chars_per_token_counts_no_special_tokens():
    df = compare_tokenizers({"t": TEXT})
    bert = df.set_index("tokenizer").loc["minilm-l6"]
    assert bert.tokens == len(encode("minilm-l6", TEXT))  # no [CLS] / [SEP]
    assert math.isclose(bert.chars_per_token, len(TEXT) / bert.tokens)


def test_windows_score_every_token_but_the_first_exactly_once():
    ids = list(range(100, 111))
    for max_length, stride in [(4, 2), (4, 3), (5, 1), (20, 10)]:
        scored = [y for x, labels in windows(ids, max_length, stride)
                  for y in labels[1:] if y != -100]  # the model never predicts a window's first token
        assert scored == ids[1:], (max_length, stride)
        assert all(len(x) <= max_length for x, _ in windows(ids, max_length, stride))


def test_perplexity_matches_model_loss_and_ignores_padding(tiny, tok):
    text = "The market rose on Monday after the central bank kept rates on hold."
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        loss = tiny(input_ids=ids, labels=ids).loss.item()
    assert math.isclose(perplexity(tiny, tok, text, max_length=64), math.exp(loss), rel_tol=1e-4)
    texts = [text, "Short one.", text + " " + text]  # different lengths: padding in a batch
    one = token_nll(tiny, tok, texts, max_length=16, batch_size=1)
    batched = token_nll(tiny, tok, texts, max_length=16, batch_size=8)
    assert one[1] == batched[1] and math.isclose(one[0], batched[0], rel_tol=1e-4)


def test_smollm2_finds_real_english_far_less_surprising_than_shuffled(smol, tok, news):
    real = perplexity(smol, tok, news, max_length=128, progress=False)
    shuffled = perplexity(smol, tok, [shuffle_words(t) for t in news], max_length=128, progress=False)
    assert real < 100 and shuffled > 10 * real, (real, shuffled)


def test_shuffle_keeps_the_words():
    shuffled = shuffle_words(TEXT, seed=1)
    assert sorted(shuffled.split()) == sorted(TEXT.split()) and shuffled != TEXT


def test_sampling_greedy_is_deterministic_and_top_k_1_is_greedy(tiny, tok):
    greedy = sample(tiny, tok, "The", max_new_tokens=5, temperature=0)
    assert greedy == sample(tiny, tok, "The", max_new_tokens=5, temperature=0, seed=7)
    assert sample(tiny, tok, "The", max_new_tokens=5, temperature=1.0, top_k=1) == greedy
    hot = sample(tiny, tok, "The", max_new_tokens=8, temperature=2.0, n=3)
    assert len(hot) == 3 and len(set(hot)) > 1
    probs = next_token_probs(tiny, tok, "The")
    assert probs.shape == (len(tok),) and math.isclose(probs.sum().item(), 1.0, rel_tol=1e-4)


def test_pack_blocks_cuts_one_stream(tok):
    texts = ["one two three", "four five six seven", "eight"] * 5
    blocks = pack_blocks(texts, tok, block_size=8)
    stream = [i for t in texts for i in tok(t)["input_ids"] + [tok.eos_token_id]]
    assert len(blocks) == len(stream) // 8
    assert blocks[1]["input_ids"] == stream[8:16] == blocks[1]["labels"]
    assert len(pack_blocks(texts, tok, block_size=8, n_blocks=2)) == 2


def test_tiny_gpt_learns_from_news(tok):
    config = TinyGPTConfig(n_layer=1, n_embd=32, n_head=2, lr=1e-2, epochs=2, batch_size=4, eval_blocks=4)
    run = train_tiny_gpt(config, tok, tlcourse.get_profile("smoke"))
    losses = run.history.train_loss.dropna()
    assert losses.iloc[-1] < math.log(len(tok)) - 0.5  # below guessing uniformly among 49,152 tokens
    assert run.tokens_seen == 16 * 32 * 2 and "eval_loss" in run.history


def test_checks_accept_right_answers_and_explain_wrong_ones(tiny, tok):
    text = "Stocks fell sharply as investors worried about rising interest rates."
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        loss = tiny(input_ids=ids, labels=ids).loss.item()
    assert check_perplexity(math.exp(loss), tiny, tok, text).startswith("Correct")
    with pytest.raises(AssertionError, match="exp"):
        check_perplexity(loss, tiny, tok, text)
    n = len(tok(text, add_special_tokens=False)["input_ids"])
    check_chars_per_token(len(text) / n, text, tok)
    with pytest.raises(AssertionError, match="tokens per character"):
        check_chars_per_token(n / len(text), text, tok)
    best = int(next_token_probs(tiny, tok, text).argmax())
    check_next_token(tok.decode([best]), tiny, tok, text)
    with pytest.raises(AssertionError, match="decode"):
        check_next_token(best, tiny, tok, text)
    blocks = pack_blocks([text] * 4, tok, block_size=8)
    check_blocks(blocks, [text] * 4, tok, 8)
    shifted = [{"input_ids": b["input_ids"], "labels": b["input_ids"][1:] + [0]} for b in blocks]
    with pytest.raises(AssertionError, match="shifted"):
        check_blocks(shifted, [text] * 4, tok, 8)
