"""Exercise checks for lesson 01 (LLM basics)."""
import math

import torch

from ..methods.lm import next_token_probs, pack_blocks, perplexity
from ..methods.tokens import encode
from .feedback import close, correct


def check_chars_per_token(value, text: str, tokenizer) -> str:
    """`value` should be len(text) / number of tokens, without special tokens."""
    n = len(encode(tokenizer, text))
    expected = len(text) / n
    if close(value, expected):
        return correct(f"{len(text)} characters / {n} tokens = {expected:.2f} characters per token")
    if close(value, 1 / expected):
        raise AssertionError("That is tokens per character; divide the characters by the tokens instead.")
    if value == n:
        raise AssertionError(f"{n} is the token count; divide the number of characters by it.")
    if any(close(value, len(text) / (n + k)) for k in (1, 2)):
        raise AssertionError("Your count includes special tokens ([CLS], [SEP], <bos>) that the "
                             "tokenizer adds; tokenise with add_special_tokens=False.")
    raise AssertionError(f"Expected {expected:.2f}, got {value}. Count the tokens of the whole text "
                         "with the tokenizer you were given, then divide len(text) by that count.")


def check_next_token(token, model, tokenizer, prompt: str) -> str:
    """`token` should be the decoded most likely token right after `prompt`."""
    best = int(next_token_probs(model, tokenizer, prompt).argmax())
    expected = tokenizer.decode([best])
    if isinstance(token, (int, torch.Tensor)) and int(token) == best:
        raise AssertionError(f"{int(token)} is the right token *id*; decode it to text with "
                             f"tokenizer.decode([{int(token)}]).")
    if token == expected:
        return correct(f"the most likely token after {prompt!r} is {expected!r}")
    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits[0]  # (T, V)
    if token == tokenizer.decode([int(logits[0].argmax())]) and logits.shape[0] > 1:
        raise AssertionError("You read the prediction at the first position; the next token after "
                             "the prompt comes from the last one: logits[0, -1].")
    if token == tokenizer.decode([int(logits[-1].argmin())]):
        raise AssertionError("That is the *least* likely token: use argmax, not argmin.")
    raise AssertionError(f"Expected {expected!r}, got {token!r}. Take the logits at the last "
                         "position, the argmax over the vocabulary, and decode that id.")


def check_perplexity(value, model, tokenizer, texts, **kwargs) -> str:
    """`value` should be lm.perplexity(model, tokenizer, texts, **kwargs), within 2%; by default
    each text is scored in one window, the whole text as context."""
    longest = max(len(tokenizer(t)["input_ids"]) for t in ([texts] if isinstance(texts, str) else texts))
    kwargs.setdefault("max_length", longest + 1)  # one window per text, as model(..., labels=ids) sees it
    expected = perplexity(model, tokenizer, texts, progress=False, **kwargs)
    loss = math.log(expected)
    if close(value, expected):
        return correct(f"perplexity {expected:.2f} = exp(mean loss {loss:.3f} per token)")
    if value is not None and value < 1:
        raise AssertionError(f"A perplexity is at least 1 (a model certain of every token); {value} "
                             "suggests a probability or a loss, not exp(loss).")
    if close(value, loss):
        raise AssertionError(f"{value:.3f} is the mean loss (nats per token); perplexity is its "
                             "exponential: math.exp(loss).")
    if close(value, 2 ** loss):
        raise AssertionError("You used 2 ** loss; the model's loss is in nats (natural log), so "
                             "perplexity is math.exp(loss).")
    if not isinstance(texts, str) and len(texts) > 1:
        per_text = [perplexity(model, tokenizer, t, progress=False, **kwargs) for t in texts]
        if close(value, sum(per_text) / len(per_text)):
            raise AssertionError("You averaged per-text perplexities; average the loss over all "
                                 "tokens first, then take exp once.")
    raise AssertionError(f"Expected about {expected:.2f}, got {value}. Pass labels=input_ids so the "
                         "model returns the mean next-token loss, then take math.exp of it.")


def check_blocks(blocks, texts, tokenizer, block_size: int) -> str:
    """`blocks` (a Dataset or list of dicts) should be lm.pack_blocks(texts, tokenizer, block_size)."""
    expected = pack_blocks(texts, tokenizer, block_size)
    rows = list(blocks)
    if any(len(r["input_ids"]) != block_size for r in rows):
        raise AssertionError(f"Every block must hold exactly {block_size} tokens; drop the "
                             "leftover tokens at the end instead of keeping a short block.")
    if any(r["labels"][:-1] == r["input_ids"][1:] for r in rows):
        raise AssertionError("Your labels are already shifted by one; the model shifts them itself, "
                             "so labels must equal input_ids.")
    if any(r["labels"] != r["input_ids"] for r in rows):
        raise AssertionError("labels must be a copy of input_ids.")
    if [r["input_ids"] for r in rows] != expected["input_ids"]:
        raise AssertionError(f"Expected {len(expected)} blocks cut from one stream: tokenise each "
                             "text (no special tokens), add tokenizer.eos_token_id after each, "
                             "join them all, then cut every block_size tokens.")
    return correct(f"{len(rows)} blocks of {block_size} tokens, labels = input_ids")
