"""A tiny GPT pretrained from scratch on news articles: what pretraining buys, at a scale a laptop can pay.

    run = train_tiny_gpt(TinyGPTConfig(), tok, profile)  # the profile's data sizes
    run.history                           # loss against step (a DataFrame)
    side_by_side({"tiny GPT": run.model, "SmolLM2": smol}, tok, ["The president said"])
"""
from dataclasses import dataclass

import pandas as pd
import torch

from ..engine.loaders import load_dataset
from ..engine.params import count_params
from ..engine.train import fit, TrainConfig
from .lm import pack_blocks, sample

SMOLLM2_TOKENS = 2e12  # SmolLM2-135M's pretraining tokens (Allal et al. 2025, model card)


@dataclass(frozen=True)
class TinyGPTConfig:
    n_layer: int = 4  # transformer blocks (SmolLM2-135M: 30)
    n_embd: int = 128  # hidden size (SmolLM2-135M: 576)
    n_head: int = 4  # attention heads (SmolLM2-135M: 9, with 3 key/value heads)
    mlp_ratio: int = 4  # MLP width = mlp_ratio * n_embd (SmolLM2-135M: 1536 = 2.67 x 576)
    lr: float = 3e-3  # peak learning rate: tiny models tolerate (and need) large steps
    batch_size: int = 8  # blocks per optimizer step: small, for more steps from little data
    epochs: int = 2  # passes over the blocks: minutes on two cores (the profile's epochs, up to 8, are
    # the classifiers' ceiling under early stopping, not a pretraining budget)
    eval_blocks: int = 16  # held-out blocks for the validation loss
    seed: int = 0  # weight init, shuffling


@dataclass
class PretrainRun:
    model: object  # the trained LlamaForCausalLM
    history: object  # DataFrame: step, train_loss, eval_loss, lr, ...
    metrics: dict  # final validation loss and perplexity
    tokens_seen: int  # training tokens processed (blocks x block size x epochs)
    train_time_s: float  # forward, backward and optimizer steps
    params: int  # parameters (tied input/output embeddings counted once)
    held_out: object  # the validation blocks (a Dataset), to score other models on the same text


def tiny_gpt(tokenizer, config: TinyGPTConfig, block_size: int):
    """A randomly initialised Llama (SmolLM2's architecture, much smaller) using `tokenizer`'s vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM
    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.n_embd, num_hidden_layers=config.n_layer,
        num_attention_heads=config.n_head, num_key_value_heads=config.n_head,
        intermediate_size=config.mlp_ratio * config.n_embd,
        max_position_embeddings=block_size, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(llama)


def news_blocks(tokenizer, profile, eval_blocks: int = 16):
    """(train, eval) LM blocks of the news_articles corpus, sized by the profile."""
    ds = load_dataset("news_articles")
    train = pack_blocks(ds["train"]["text"], tokenizer, profile.lm_block_size, profile.lm_train_blocks)
    held_out = pack_blocks(ds["validation"]["text"], tokenizer, profile.lm_block_size, eval_blocks)
    return train, held_out


def train_tiny_gpt(config: TinyGPTConfig, tokenizer, profile) -> PretrainRun:
    """Train a tiny GPT from scratch on news articles with the course's loop (`train.fit`)."""
    train, held_out = news_blocks(tokenizer, profile, config.eval_blocks)
    model = tiny_gpt(tokenizer, config, profile.lm_block_size)
    epochs = config.epochs
    steps = epochs * -(-len(train) // config.batch_size)
    cfg = TrainConfig(lr=config.lr, epochs=epochs, batch_size=config.batch_size, warmup_ratio=0.1,
                      weight_decay=0.1, eval_every=max(steps // 6, 1), log_every=max(steps // 40, 1),
                      group_by_length=False, seed=config.seed)
    result = fit(model, train, held_out, cfg)
    return PretrainRun(model=model, history=result.frame(), metrics=result.metrics,
                       tokens_seen=len(train) * profile.lm_block_size * epochs,
                       train_time_s=result.train_time_s, params=count_params(model)[1], held_out=held_out)


def side_by_side(models: dict, tokenizer, prompts, **sample_kw):
    """One row per prompt, one column per model: a sampled continuation from each."""
    return pd.DataFrame({name: [sample(m, tokenizer, p, **sample_kw)[0] for p in prompts]
                         for name, m in models.items()}, index=pd.Index(prompts, name="prompt"))
