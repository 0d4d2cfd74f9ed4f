"""Inference over many texts, the one way every lesson does it:

    out = over_texts(model, tokenizer, texts, forward)   # forward(model, batch) -> (B, ...)

Texts are sorted by length so each batch pads little, batches go to wherever the model lives,
the forward pass runs under inference_mode and the course's precision (device.autocast), and
the results come back on the CPU, in the texts' original order.
"""
import numpy as np
import torch
from tqdm.auto import tqdm

from .attention import cpu_attention
from .device import autocast, model_device


def length_batches(lengths, batch_size: int, sort: bool = True) -> list[np.ndarray]:
    """Index batches of similar length: positions sorted by length (stable), cut every batch_size.
    sort=False: the positions in their given order (to measure what sorting saves)."""
    order = np.argsort(np.asarray(lengths), kind="stable") if sort else np.arange(len(lengths))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def to_device(batch: dict, model) -> dict:
    """Every tensor of a batch on the model's device (asynchronous copies from pinned memory on CUDA)."""
    device = model_device(model)
    return {k: v.to(device, non_blocking=device.type == "cuda") if hasattr(v, "to") else v
            for k, v in batch.items()}


def over_texts(model, tokenizer, texts, forward, batch_size: int = 64, max_length: int = 128,
               progress: bool = False, desc: str = "inference", sort: bool = True):
    """forward(model, batch) for every batch of `texts`; its (B, ...) outputs as one CPU tensor (N, ...).

    sort=False batches the texts in their given order (each batch padded to its longest text).

    batch: the tokenizer's input_ids, attention_mask (and token_type_ids), each (B, T), on the model's device.
    """
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)  # unpadded lists
    keys = [k for k in enc.keys() if k in ("input_ids", "attention_mask", "token_type_ids")]
    batches = length_batches([len(ids) for ids in enc["input_ids"]], batch_size, sort)
    outputs = []
    model.eval()
    with torch.inference_mode(), autocast(model):
        for idx in tqdm(batches, desc=desc, disable=not progress):
            rows = {k: [enc[k][i] for i in idx] for k in keys}
            batch = tokenizer.pad(rows, return_tensors="pt")
            outputs.append(forward(model, to_device(dict(batch), model)).float().cpu())
    if not outputs:
        raise ValueError("no texts given: pass at least one text")
    out = torch.cat(outputs)  # (N, ...) in sorted order
    restored = torch.empty_like(out)
    restored[torch.as_tensor(np.concatenate(batches))] = out
    return restored


def positive_probs(model, tokenizer, texts, batch_size: int = 64, max_length: int = 128):
    """A binary classifier's P(positive) for each text, in order (label index 1 = positive): (N,)."""
    def forward(model, batch):  # (B,)
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.softmax(-1)[:, 1]
    return over_texts(model, tokenizer, texts, forward, batch_size, max_length)


@torch.no_grad()
def continuations(model, tokenizer, prompt_ids, n: int, new_tokens: int, batch_size: int = 64,
                  share_prompt: bool = False, **how) -> list:
    """n continuations of each prompt (token ids), generated in batches padded on the left:
    [n continuation ids] per prompt, each ending at the end-of-text token (kept) or after new_tokens.
    share_prompt: each prompt's keys and values computed once for its n continuations (the same tokens as
    generate's num_return_sequences in fp32; about 3x faster for a 170-token prompt and n = 8 on 2 cores).
    how: generate()'s sampling settings (do_sample, temperature, top_k, top_p)."""
    model.eval()
    pad, device, out = tokenizer.pad_token_id, model_device(model), []
    with autocast(model), cpu_attention(model, "inference"):
        for i in range(0, len(prompt_ids), batch_size):
            rows = prompt_ids[i:i + batch_size]
            width = max(map(len, rows))
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)  # (B, T), padded left
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
            repeat = {"num_return_sequences": n}
            if share_prompt and n > 1:  # the last prompt token is left for generate, which needs one to start from
                cache = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True).cache
                cache.batch_repeat_interleave(n)
                ids, mask, repeat = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), {"cache": cache}
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, pad_token_id=pad,
                                 **repeat, **how)  # (B * n, T + new)
            out += [_until_end(row, tokenizer.eos_token_id) for row in gen[:, width:].tolist()]
    return [out[j * n:(j + 1) * n] for j in range(len(prompt_ids))]


def _until_end(ids: list, eos: int) -> list:
    return ids[:ids.index(eos) + 1] if eos in ids else ids
