"""Supervised fine-tuning (SFT) of a chat LLM: pairs rendered with the tokenizer's chat template,
the loss on the answer only (or on every token), trained with the course's loop.

    chat = messages("Une réponse douce calme la fureur.", "A gentle answer turns away wrath.")
    ex = encode_chat(tok, chat, answer_only=True)     # input_ids, attention_mask, labels (-100 on the prompt)
    train = encode_pairs(tok, sources, targets)       # a datasets.Dataset of such examples
    run = fit_sft(model, train, val, tok, SFTSettings(lr=1e-3))  # one fit; lessons/translation_sft chooses the rate

A chat example is system + user turns (the prompt) followed by the assistant turn (the answer).
With `answer_only=True` the labels are -100 on every prompt token, so the loss (and the gradient)
comes from the answer alone: what TRL's SFTTrainer calls completion-only loss.
"""
import time
from dataclasses import dataclass

from ..engine.train import fit, TrainConfig
from .lm import IGNORE
INSTRUCTION = "Translate to English: "  # the user turn is this, then the French text
SYSTEM = ""  # the system turn: empty (the template's default one costs 16 more tokens per chat)


def messages(source: str, target: str | None = None, examples=(), system: str | None = SYSTEM) -> list[dict]:
    """A chat: the system turn (None: the template's default), one user turn per example and for
    `source`, each example answered by the assistant; `target`, when given, is the answer to learn."""
    chat = [] if system is None else [{"role": "system", "content": system}]
    for fr, en in examples:  # few-shot: earlier turns of the same conversation
        chat += [{"role": "user", "content": INSTRUCTION + fr}, {"role": "assistant", "content": en}]
    chat.append({"role": "user", "content": INSTRUCTION + source})
    if target is not None:
        chat.append({"role": "assistant", "content": target})
    return chat


def chat_ids(tokenizer, chat: list[dict], generation_prompt: bool = False) -> list[int]:
    """Token ids of a chat rendered by the tokenizer's own template (as TRL tokenises it)."""
    return tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True,
                                         add_generation_prompt=generation_prompt)["input_ids"]


def encode_chat(tokenizer, chat: list[dict], answer_only: bool = True) -> dict:
    """input_ids, attention_mask and labels (each (T,)) of a chat whose last turn is the answer.

    The prompt is every turn before the answer, rendered with the generation prompt
    ("<|im_start|>assistant\\n"): exactly what the model sees when it is asked to answer."""
    ids = chat_ids(tokenizer, chat)
    prompt = chat_ids(tokenizer, chat[:-1], generation_prompt=True)
    if ids[:len(prompt)] != prompt:
        raise ValueError("this chat template renders the prompt differently on its own; the answer "
                         "cannot be found by position")
    labels = [IGNORE] * len(prompt) + ids[len(prompt):] if answer_only else list(ids)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def encode_pairs(tokenizer, sources, targets, answer_only: bool = True, system: str | None = SYSTEM):
    """A datasets.Dataset of encoded chats, one per (French, English) pair (system: as in messages)."""
    from datasets import Dataset
    rows = [encode_chat(tokenizer, messages(s, t, system=system), answer_only) for s, t in zip(sources, targets)]
    return Dataset.from_list(rows)


def learned_tokens(dataset) -> int:
    """Tokens the loss is computed on: labels other than -100 after the first position (the
    model predicts token t from the tokens before it, so the first token is never a target)."""
    return sum(sum(y != IGNORE for y in labels[1:]) for labels in dataset["labels"])


def collator(tokenizer):
    """Pads each batch to its longest chat: input_ids with the pad token, labels with -100."""
    from transformers import DataCollatorForSeq2Seq
    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, return_tensors="pt")


@dataclass(frozen=True)
class SFTSettings:
    lr: float = 1e-3  # peak learning rate
    epochs: int = 1  # passes over the training pairs
    batch_size: int = 8  # chats per optimizer step
    seed: int = 0  # shuffling, dropout, LoRA's initial A
    patience: int | None = None  # stop after this many epochs without a lower validation loss; None: every epoch
    group_by_length: bool = True  # batch chats of similar length (less padding); False: shuffled as they come


@dataclass
class SFTRun:
    model: object  # the trained model (a peft model for LoRA)
    result: object  # tlcourse.engine.train.TrainResult of the fit
    lr: float  # the learning rate it trained at
    val_loss: float  # answer-token loss on the validation pairs after training
    seconds: float  # wall time of the fit (training and the validation loss)


def fit_sft(model, train, val, tokenizer, config: SFTSettings) -> SFTRun:
    """One fit of `model` on encoded chats, validated after each epoch, ending with the weights of its
    lowest validation loss (the course's one SFT path: lessons 10 and 11)."""
    start = time.perf_counter()
    cfg = TrainConfig(lr=config.lr, epochs=config.epochs, batch_size=config.batch_size, warmup_ratio=0.1,
                      seed=config.seed, eval_batch_size=16, early_stopping_patience=config.patience,
                      metric="loss", group_by_length=config.group_by_length, log_every=1, progress=False)
    result = fit(model, train, val, cfg, collate_fn=collator(tokenizer))
    return SFTRun(model, result, config.lr, result.metrics["loss"], time.perf_counter() - start)
