"""Translation with an LLM, French -> English: the pairs, batched greedy decoding, chrF and BLEU.

    pairs = translation_pairs("bible_fr_en", sizes, seed=0)    # sizes: lessons.translation_sft's; {split: DataFrame}
    out = translate(model, tok, pairs["test"].source, pairs["test"].target)
    corpus_scores(out.hypotheses, pairs["test"].target)        # {"chrf": ..., "bleu": ...}
The lesson's experiments, each writing a result JSON, are in tlcourse.lessons.translation_sft.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.attention import cpu_attention
from ..engine.device import autocast, model_device
from ..engine.loaders import load_dataset
from .sft import chat_ids, messages, SYSTEM
from .zeroshot import batch_cache, prefix_kv


def translation_pairs(name: str, sizes, seed: int = 0) -> dict:
    """{split: DataFrame with source, target} of short pairs: train drawn by `seed`, validation and
    test by seed 0 (fixed for every run). sizes: max_words, train_pairs, val_pairs, test_pairs (the
    lesson's TranslateSizes); a size of None takes every short pair."""
    ds, out = load_dataset(name), {}
    for split, n in (("train", sizes.train_pairs), ("validation", sizes.val_pairs),
                     ("test", sizes.test_pairs)):
        df = ds[split].to_pandas()
        df = df[df.target.str.split().str.len() <= sizes.max_words]
        n = len(df) if n is None else min(n, len(df))
        out[split] = df.sample(n=n, random_state=seed if split == "train" else 0).reset_index(drop=True)
    return out


@dataclass
class Translations:
    hypotheses: list  # the model's answer to each source, in the order given
    seconds: float  # wall time of all the generation
    new_tokens: int  # tokens generated, up to each answer's end-of-turn token

    @property
    def seconds_per_sentence(self) -> float:
        return self.seconds / max(1, len(self.hypotheses))


def common_prefix(rows: list) -> int:
    """How many leading tokens every row shares (system turn, instruction, few-shot examples)."""
    n = min(map(len, rows))
    for i in range(n):
        if len({r[i] for r in rows}) > 1:
            return i
    return n


def _pad_middle(prefix: list, rows: list, pad_id: int, device):
    """input_ids and attention_mask, each (B, P + S): the shared prefix, then padding, then each
    row's own tokens, so every row ends at the last column and its new tokens line up after it.
    Positions come from the mask (generate counts only real tokens), so padding changes nothing."""
    S = max(map(len, rows))
    ids = [prefix + [pad_id] * (S - len(r)) + r for r in rows]
    mask = [[1] * len(prefix) + [0] * (S - len(r)) + [1] * len(r) for r in rows]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def token_budgets(tokenizer, references, slack: float = 1.5, extra: int = 4) -> list[int]:
    """max_new_tokens for each sentence: slack x its reference's token count + extra. The reference
    is used for its length only: a translation much longer than it is already wrong."""
    lengths = map(len, tokenizer(list(references), add_special_tokens=False)["input_ids"])
    return [math.ceil(slack * n) + extra for n in lengths]


def first_line(text: str) -> str:
    """The answer's first non-empty line: commentary after a translation is not scored."""
    return next((line.strip() for line in text.strip().splitlines() if line.strip()), "")


def _generate(model, tokenizer, ids, mask, kv, max_new_tokens: int):
    """Greedy continuation of one batch after the cached prefix: the new tokens (B, N), on the CPU."""
    with autocast(model):  # the course's precision: bf16 where the device computes it, else fp32
        out = model.generate(input_ids=ids, attention_mask=mask, cache=batch_cache(kv, len(ids)),
                             do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                             pad_token_id=tokenizer.pad_token_id)  # (B, P + S + N)
    return out[:, ids.shape[1]:].cpu()


@torch.inference_mode()
def translate(model, tokenizer, sources, references, examples=(), batch_size: int = 16,
              system: str | None = SYSTEM) -> Translations:
    """Greedy translations, batched. The prompt part every sentence shares runs through the model
    once and its keys/values are reused (a KV cache); each sentence's own tokens follow padding,
    sorted by length; decoding (with the cache) stops at end-of-turn or the batch's token budget.
    system: the chat's system turn (sft.messages)."""
    prompts = [chat_ids(tokenizer, messages(s, examples=examples, system=system), generation_prompt=True)
               for s in sources]
    P = min(common_prefix(prompts), min(map(len, prompts)) - 1)  # each row keeps at least one own token
    budgets, device = token_budgets(tokenizer, references), model_device(model)
    model.eval()
    hypotheses, new_tokens, start = [""] * len(prompts), 0, time.perf_counter()
    with cpu_attention(model, "inference"):
        with autocast(model):
            kv = prefix_kv(model.get_decoder(), torch.tensor([prompts[0][:P]], device=device))  # per layer (1, H, P, D)
        order = np.argsort([len(p) for p in prompts], kind="stable")
        for batch in np.array_split(order, math.ceil(len(order) / batch_size)):
            ids, mask = _pad_middle(prompts[0][:P], [prompts[i][P:] for i in batch], tokenizer.pad_token_id, device)
            answers = _generate(model, tokenizer, ids, mask, kv, max(budgets[i] for i in batch))  # (B, N)
            ended = (answers == tokenizer.eos_token_id).cumsum(1) > 0  # (B, N): at or after end-of-turn
            new_tokens += int((~ended).sum() + ended.any(1).sum())
            for i, text in zip(batch, tokenizer.batch_decode(answers, skip_special_tokens=True)):
                hypotheses[i] = first_line(text)
    return Translations(hypotheses, time.perf_counter() - start, new_tokens)


def corpus_scores(hypotheses, references) -> dict:
    """Corpus chrF and BLEU (sacrebleu, default settings and tokenisation), 0..100."""
    import sacrebleu
    hyps, refs = list(hypotheses), [list(references)]
    return {"chrf": sacrebleu.corpus_chrf(hyps, refs).score, "bleu": sacrebleu.corpus_bleu(hyps, refs).score}


def sentence_chrf(hypotheses, references) -> list[float]:
    """chrF of each sentence on its own: the per-item scores paired comparisons use."""
    import sacrebleu
    return [sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hypotheses, references)]
