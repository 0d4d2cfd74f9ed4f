"""Lesson 01's measurements as a result file (claim 1, "pretraining gives a model general language
knowledge"), item by item so the claim gets the course's paired interval:

    record_pretraining(run, smol, tok, {"real": texts, "shuffled": shuffled})
the tiny GPT trained from scratch and SmolLM2 (pretrained) on the same held-out blocks, and
SmolLM2 on real text against the same words shuffled, text by text.
"""
import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..engine.config import get_profile, RESULTS
from ..engine.params import count_params
from ..engine.records import result_name, write_result
from ..methods.lm import block_losses, token_nll
from ..experiments.protocol import stored, VERSION

METHOD, DATA = "pretraining", "news_articles"


def text_losses(model, tokenizer, texts, max_length: int) -> np.ndarray:
    """Mean next-token loss (nats) of each text: (N,)."""
    return np.array([total / count for total, count in
                     (token_nll(model, tokenizer, t, max_length, progress=False) for t in texts)])


def record_pretraining(run, smol, tokenizer, texts: dict, profile=None, out_dir=None) -> dict:
    """Lesson 01's result file: per held-out block, the tiny GPT's (run, a PretrainRun) and SmolLM2's
    loss; per text, SmolLM2's loss on texts["real"] and texts["shuffled"]. Read instead of written
    while it stands for this run (protocol.stored: the tiny GPT's size and training, the texts)."""
    profile = profile or get_profile()
    folder = Path(out_dir or RESULTS / profile.name)
    asked = {"protocol": {"version": VERSION, "params": run.params, "tokens_seen": run.tokens_seen,
                          "lm_block_size": profile.lm_block_size, "held_out_blocks": len(run.held_out)},
             "texts_hash": hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:16]}
    path = folder / result_name(METHOD, "smollm2-135m", DATA, profile.name, 0)
    record = stored(path, asked)
    if record is None:
        scratch, pretrained = block_losses(run.model, run.held_out), block_losses(smol, run.held_out)
        real, shuffled = (text_losses(smol, tokenizer, texts[k], 2 * profile.lm_block_size) for k in ("real", "shuffled"))
        metrics = {"scratch_ppl": math.exp(scratch.mean()), "pretrained_ppl": math.exp(pretrained.mean()),
                   "real_ppl": math.exp(real.mean()), "shuffled_ppl": math.exp(shuffled.mean())}
        record = stored(write_result(folder, method=METHOD, model="smollm2-135m", data=DATA, profile=profile.name,
                                     seed=0, metrics=metrics, trainable_params=run.params,
                                     total_params=count_params(smol)[1], wall_time_s=run.train_time_s,
                                     peak_memory_mb=None, block_loss_scratch=scratch.tolist(),
                                     block_loss_pretrained=pretrained.tolist(), text_loss_real=real.tolist(),
                                     text_loss_shuffled=shuffled.tolist(), **asked), asked)
    return record["metrics"]
