"""Specialise generation: LoRA on SmolLM2 over a style corpus (Hamlet, Python code).

    run = finetune_style(StyleConfig(data="hamlet"), profile)  # LoRA fine-tune with train.fit
    run.perplexities                                   # style and general text, before vs after
    run.samples                                        # the same prompts, before vs after
The style's held-out perplexity should fall; general news perplexity shows what was forgotten.
"""

from dataclasses import dataclass, replace

import pandas as pd

from ..engine.loaders import load_dataset, load_model, load_tokenizer
from ..engine.train import evaluate, fit, TrainConfig
from .lm import pack_blocks, sample
from .lora import add_lora, LLM_DROPOUT

PROMPTS = {  # course corpus -> prompts that open a passage in its style
    "hamlet": ["HAMLET\n", "Enter the KING\nKING CLAUDIUS\n"],
    "python_code": ["def ", "class Queue:\n    "],
}


@dataclass(frozen=True)
class StyleConfig:
    data: str = "hamlet"  # course corpus of the style: "hamlet" or "python_code"
    r: int = 16  # LoRA rank
    dropout: float = LLM_DROPOUT  # dropout on the adapters' input (methods.lora.LLM_DROPOUT)
    lr: float = 1e-3  # adapters start at zero and are small: a large rate, as for a new head
    block_share: float = 0.2  # share of the profile's lm_train_blocks trained on (CPU time)
    epochs: int = 1  # passes over the training blocks
    batch_size: int = 8  # blocks per optimizer step
    eval_blocks: int | None = None  # held-out blocks per perplexity; None: 16, fewer in smoke
    max_new_tokens: int | None = None  # tokens per sample; None: 40, fewer in smoke
    temperature: float = 0.8  # sampling temperature of the samples
    seed: int = 0  # adapter init, shuffling, sampling


@dataclass
class StyleRun:
    model: object  # SmolLM2 with trained LoRA adapters (a peft model)
    result: object  # the TrainResult of the fine-tune
    perplexities: object  # DataFrame: rows style / general text, columns before / after
    samples: object  # DataFrame: one row per prompt, columns before / after
    train_blocks: int  # blocks of text trained on
    train_tokens: int  # tokens trained on (blocks x block size x epochs)


def resolved(config: StyleConfig, profile) -> StyleConfig:
    """The config with eval_blocks and max_new_tokens sized by the profile where left as None."""
    eval_blocks = min(16, max(2, (profile.lm_train_blocks or 128) // 8))
    return replace(config, eval_blocks=config.eval_blocks or eval_blocks,
                   max_new_tokens=config.max_new_tokens or min(40, profile.lm_block_size // 3))


def style_blocks(tokenizer, config: StyleConfig, profile):
    """(train, held-out style, held-out news) LM blocks of the profile's block size."""
    config = resolved(config, profile)
    n_train = max(1, round((profile.lm_train_blocks or 10**9) * config.block_share))
    style, news = load_dataset(config.data), load_dataset("news_articles")
    size = profile.lm_block_size
    return (pack_blocks(style["train"]["text"], tokenizer, size, n_train),
            pack_blocks(style["validation"]["text"], tokenizer, size, config.eval_blocks),
            pack_blocks(news["validation"]["text"], tokenizer, size, config.eval_blocks))


def block_perplexities(model, style, general) -> dict:
    """Perplexity on held-out style blocks and on general-text (news) blocks."""
    return {"style (held out)": evaluate(model, style, batch_size=8)["perplexity"],
            "general news": evaluate(model, general, batch_size=8)["perplexity"]}


def style_samples(model, tokenizer, prompts, config: StyleConfig) -> list[str]:
    """One sampled continuation per prompt, seeded: the same seed before and after training."""
    return [sample(model, tokenizer, p, max_new_tokens=config.max_new_tokens,
                   temperature=config.temperature, top_k=50, seed=config.seed)[0] for p in prompts]


def finetune_style(config: StyleConfig, profile, model=None, tokenizer=None, prompts=None) -> StyleRun:
    """LoRA-fine-tune SmolLM2 (or `model`) on a style corpus; measure it before and after."""
    tokenizer = tokenizer or load_tokenizer("smollm2-135m")
    model = model or load_model("smollm2-135m")
    prompts = prompts or PROMPTS[config.data]
    config = resolved(config, profile)
    train, style, general = style_blocks(tokenizer, config, profile)
    before = block_perplexities(model, style, general)
    before_samples = style_samples(model, tokenizer, prompts, config)
    model = add_lora(model, r=config.r, dropout=config.dropout)
    cfg = TrainConfig(lr=config.lr, epochs=config.epochs, batch_size=config.batch_size,
                      warmup_ratio=0.1, group_by_length=False, log_every=1, seed=config.seed)
    result = fit(model, train, None, cfg)
    after = block_perplexities(model, style, general)
    ppl = pd.DataFrame({"before": before, "after": after})
    samples = pd.DataFrame({"before": before_samples,
                            "after": style_samples(model, tokenizer, prompts, config)},
                           index=pd.Index(prompts, name="prompt"))
    return StyleRun(model=model, result=result, perplexities=ppl, samples=samples,
                    train_blocks=len(train),
                    train_tokens=len(train) * profile.lm_block_size * config.epochs)
