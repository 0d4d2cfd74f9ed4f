"""Exercise checks for lesson 10 (translation SFT)."""
from collections import Counter

from ..methods.sft import chat_ids, encode_chat, IGNORE, learned_tokens
from .feedback import close, correct


def check_label_mask(labels, tokenizer, chat) -> str:
    """`labels` should be the chat's token ids with -100 on every prompt token (system and user
    turns and the assistant header), the answer and its end-of-turn token kept."""
    ids, expected = chat_ids(tokenizer, chat), encode_chat(tokenizer, chat)["labels"]
    labels = [int(x) for x in labels]
    n_prompt = len(chat_ids(tokenizer, chat[:-1], generation_prompt=True))
    if len(labels) != len(ids):
        raise AssertionError(f"labels must have one entry per token of the chat: {len(ids)}, got {len(labels)}.")
    if labels == expected:
        return correct(f"the loss sees {len(ids) - n_prompt} of {len(ids)} tokens: "
                       f"{tokenizer.decode(ids[n_prompt:])!r}")
    if labels == ids:
        raise AssertionError("Every token is kept: that is the every-token loss. Put -100 on the "
                             "prompt's tokens (the first len(prompt_ids) positions).")
    if labels == [IGNORE if y != IGNORE else t for y, t in zip(expected, ids)]:
        raise AssertionError("The mask is inverted: you kept the prompt and hid the answer.")
    if labels in (expected[1:] + [IGNORE], [IGNORE] + expected[:-1]):
        raise AssertionError("Your labels are shifted by one position; the model shifts them itself, "
                             "so labels[t] must be input_ids[t] (or -100).")
    n_no_header = len(chat_ids(tokenizer, chat[:-1]))
    if labels == [IGNORE] * n_no_header + ids[n_no_header:]:
        raise AssertionError("The assistant header ('<|im_start|>assistant\\n') is still in the loss: "
                             "render the prompt with generation_prompt=True, as the model sees it "
                             "when it is asked to answer.")
    if labels[:-2] == expected[:-2] and labels != expected:
        raise AssertionError("Keep the end-of-turn token (<|im_end|>) and the newline after it in the "
                             "loss: that is how the model learns to stop after the translation.")
    raise AssertionError("Not the expected labels: -100 for each of the len(prompt_ids) first "
                         "tokens, then the chat's own ids for the rest.")


def check_learned_share(share, answer_only, every_token) -> str:
    """`share` should be the fraction of the every-token loss's tokens the answer-only loss keeps,
    over two encodings of the same pairs (datasets with a `labels` column)."""
    a, e = learned_tokens(answer_only), learned_tokens(every_token)
    expected = a / e
    if close(share, expected):
        return correct(f"the answer-only loss learns from {a:,} of {e:,} tokens ({expected:.0%}): "
                       "the same forward and backward passes, fewer targets")
    if close(share, 100 * expected):
        raise AssertionError("That is a percentage; give the share as a fraction (0..1).")
    if close(share, e / a):
        raise AssertionError("That is the inverse: answer-only tokens divided by every-token tokens.")
    if close(share, a / sum(map(len, every_token["input_ids"]))):
        raise AssertionError("Your every-token count includes each example's first token, which is never "
                             "a target (nothing comes before it): count labels from position 1 on.")
    raise AssertionError(f"Expected {expected:.3f}: count labels != -100 (from position 1 on) in each "
                         "encoding and divide the answer-only count by the every-token count.")


def _chrf_parts(hypotheses, references, order: int = 6, beta: float = 2.0, spaces: bool = False,
                by_order_f: bool = False) -> float:
    """chrF as sacrebleu computes it (and variants, to name a learner's mistake)."""
    stats = [[0, 0, 0] for _ in range(order)]  # per order: hypothesis, reference, matching n-grams
    for h, r in zip(hypotheses, references):
        h, r = (s if spaces else "".join(s.split()) for s in (h, r))
        for n in range(1, order + 1):
            hc, rc = (Counter(s[i:i + n] for i in range(len(s) - n + 1)) for s in (h, r))
            counts = (sum(hc.values()), sum(rc.values()), sum((hc & rc).values()))
            stats[n - 1] = [total + c for total, c in zip(stats[n - 1], counts)]
    used = [(m / nh, m / nr) for nh, nr, m in stats if nh and nr]
    f = lambda p, r: (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
    if by_order_f:
        return 100 * sum(f(p, r) for p, r in used) / len(used) if used else 0.0
    p, r = (sum(x) / len(used) for x in zip(*used)) if used else (0.0, 0.0)
    return 100 * f(p, r)


def check_chrf(value, hypotheses, references) -> str:
    """`value` should be sacrebleu's corpus chrF of the hypotheses against the references (one
    reference each): character n-grams of orders 1..6, spaces removed, statistics summed over the
    sentences, precision and recall averaged over the orders, then F-beta with beta = 2, x 100."""
    import sacrebleu
    hyps, refs = list(hypotheses), list(references)
    expected = sacrebleu.corpus_chrf(hyps, [refs]).score
    if close(value, expected, rel=1e-3):
        return correct(f"chrF {expected:.2f}, as sacrebleu computes it")
    if close(100 * value, expected, rel=1e-3):
        raise AssertionError("Multiply by 100: chrF is reported on a 0..100 scale.")
    mean = sum(sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)) / len(hyps)
    hints = [(mean, "That is the mean of the sentence scores. Corpus chrF sums the n-gram counts "
                    "over all sentences first, then computes precision and recall once."),
             (_chrf_parts(hyps, refs, spaces=True), "Remove the spaces before taking character n-grams."),
             (_chrf_parts(hyps, refs, beta=1.0), "Use beta = 2 (recall weighs more): F = 5PR / (4P + R)."),
             (_chrf_parts(refs, hyps), "Precision and recall are swapped: precision divides the matches by "
                                       "the hypothesis's n-grams, recall by the reference's."),
             (_chrf_parts(hyps, refs, by_order_f=True), "Average precision and recall over the orders "
                                                        "first, then take one F-score."),
             (_chrf_parts(hyps, refs, order=4), "Use n-gram orders 1 to 6, not 1 to 4.")]
    for wrong, hint in hints:
        if close(value, wrong, rel=1e-3) and not close(wrong, expected, rel=1e-3):
            raise AssertionError(hint)
    raise AssertionError(f"Expected {expected:.2f}, got {value}.")
