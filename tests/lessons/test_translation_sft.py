"""Lesson 10's machinery: chat rendering and label masks, batched generation, metrics, result
tables, the exercise checks, and the same loss as TRL's SFTTrainer on one batch."""
import math

import numpy as np
import pytest
import sacrebleu
import torch

import tlcourse
from tlcourse.methods.sft import IGNORE, chat_ids, collator, encode_chat, encode_pairs, learned_tokens, messages
from tlcourse.lessons.translation_sft import translate_sizes
from tlcourse.methods.translate import (common_prefix, corpus_scores, first_line, sentence_chrf, token_budgets, translate,
                                translation_pairs)


def test_answer_only_labels_cover_exactly_the_answer_and_its_end_of_turn(tok, pairs):
    chat = messages(*pairs[0])
    ex = encode_chat(tok, chat, answer_only=True)
    prompt = chat_ids(tok, chat[:-1], generation_prompt=True)
    kept = [t for t, y in zip(ex["input_ids"], ex["labels"]) if y != IGNORE]
    assert ex["labels"][:len(prompt)] == [IGNORE] * len(prompt)
    assert tok.decode(kept) == pairs[0][1] + "<|im_end|>\n"
    assert tok.decode(prompt).endswith("<|im_start|>assistant\n")
    assert tok.decode(prompt).startswith("<|im_start|>system\n<|im_end|>")  # an empty system turn
    default = chat_ids(tok, messages(pairs[0][0], system=None), generation_prompt=True)
    assert "You are a helpful AI assistant" in tok.decode(default)  # the template's own, when none is given
    assert len(default) > len(prompt)
    assert encode_chat(tok, chat, answer_only=False)["labels"] == ex["input_ids"]


def test_few_shot_examples_are_earlier_turns_and_only_the_last_answer_is_learned(tok, pairs):
    chat = messages(pairs[2][0], pairs[2][1], examples=pairs[:2])
    assert [m["role"] for m in chat] == ["system"] + ["user", "assistant"] * 3
    ex = encode_chat(tok, chat)
    assert tok.decode([t for t, y in zip(ex["input_ids"], ex["labels"]) if y != IGNORE]) == "God is love.<|im_end|>\n"


def test_learned_tokens_and_collator_padding(tok, pairs):
    answer, every = (encode_pairs(tok, *zip(*pairs), answer_only=a) for a in (True, False))
    n_answer = sum(len(tok(t + "<|im_end|>\n", add_special_tokens=False)["input_ids"]) for _, t in pairs)
    assert learned_tokens(answer) == n_answer
    assert learned_tokens(every) == sum(map(len, every["input_ids"])) - len(pairs)
    batch = collator(tok)(list(answer))  # (B, T) each
    lengths = [len(x) for x in answer["input_ids"]]
    assert batch["input_ids"].shape == (3, max(lengths))
    short = int(np.argmin(lengths))
    assert (batch["labels"][short, lengths[short]:] == IGNORE).all()
    assert (batch["attention_mask"][short, lengths[short]:] == 0).all()


def test_same_loss_as_trl_sft_trainer_on_one_batch(tok, tiny, tmp_path, pairs):
    """The course's answer-only loss = TRL's completion-only loss; every-token = TRL without it."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer
    data = Dataset.from_list([{"prompt": messages(s), "completion": [{"role": "assistant", "content": t}]}
                              for s, t in pairs])
    losses = {}
    for completion_only in (True, False):
        ours = collator(tok)(list(encode_pairs(tok, *zip(*pairs), answer_only=completion_only)))
        args = SFTConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True,
                         completion_only_loss=completion_only, disable_tqdm=True)
        trainer = SFTTrainer(model=tiny, args=args, train_dataset=data, processing_class=tok)
        rows = [{k: trainer.train_dataset[i][k] for k in ("input_ids", "labels")} for i in range(len(pairs))]
        theirs = trainer.data_collator(rows)  # TRL's own tokenisation, masking and padding
        assert torch.equal(theirs["labels"], ours["labels"]) and torch.equal(theirs["input_ids"], ours["input_ids"])
        with torch.no_grad():
            losses[completion_only] = (tiny(**ours).loss.item(), trainer.compute_loss(tiny, dict(theirs)).item())
        assert losses[completion_only][0] == pytest.approx(losses[completion_only][1], rel=1e-5)
    assert losses[True][0] != pytest.approx(losses[False][0], rel=1e-4)  # they differ by far more than the 1e-5 above


def test_batched_translation_with_shared_prefix_equals_one_at_a_time(tok, tiny, pairs):
    sources, references = ["Dieu est amour.", "Bonjour.", pairs[1][0]], ["God is love.", "Hello.", pairs[1][1]]
    for examples in ((), pairs[:1]):  # the shared prefix: system + instruction, or + one example
        out = translate(tiny, tok, sources, references, examples=examples, batch_size=2)
        budget = max(token_budgets(tok, references))
        for source, reference, hypothesis in zip(sources, references, out.hypotheses):
            ids = torch.tensor([chat_ids(tok, messages(source, examples=examples), generation_prompt=True)])
            alone = tiny.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                  max_new_tokens=token_budgets(tok, [reference])[0], pad_token_id=2)
            assert first_line(tok.decode(alone[0, ids.shape[1]:], skip_special_tokens=True)) == hypothesis
        assert 0 < out.new_tokens <= budget * len(sources) and out.seconds_per_sentence > 0


def test_prefix_budgets_and_first_line(tok):
    assert common_prefix([[1, 2, 3], [1, 2, 4, 5], [1, 2]]) == 2
    assert token_budgets(tok, ["God is love."]) == [math.ceil(1.5 * len(tok("God is love.")["input_ids"])) + 4]
    assert first_line("\n  God is love.\nThis verse means ...") == "God is love." and first_line("") == ""


def test_scores_are_sacrebleus_corpus_scores(pairs):
    refs = [t for _, t in pairs]
    assert corpus_scores(refs, refs) == {"chrf": pytest.approx(100), "bleu": pytest.approx(100)}
    hyps = ["A soft answer turns away anger.", "The wise speak knowledge.", "God is love."]
    scores = corpus_scores(hyps, refs)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert 0 < scores["bleu"] < scores["chrf"] < 100
    per = sentence_chrf(hyps, refs)
    assert per[2] == pytest.approx(100) and np.mean(per) != pytest.approx(scores["chrf"])  # corpus != mean


def test_pairs_are_short_and_the_test_set_is_fixed_across_seeds():
    sizes = translate_sizes("smoke")
    a, b = (translation_pairs("bible_fr_en", sizes, seed) for seed in (0, 1))
    assert a["test"].equals(b["test"]) and not a["train"].equals(b["train"])
    assert len(a["test"]) == sizes.test_pairs and len(a["train"]) == sizes.train_pairs
    assert (a["train"].target.str.split().str.len() <= sizes.max_words).all()
    assert set(a["test"].book).isdisjoint(a["train"].book)


def test_tables_are_built_from_result_files(tmp_path, pairs):
    from tlcourse.engine.records import write_result
    from tlcourse.experiments.protocol import describe_difference, Paired
    from tlcourse.lessons.translation_sft import compare, translation_table
    refs = [t for _, t in pairs]
    for method, hyps in (("zeroshot", ["No.", "I cannot translate.", "Love."]), ("sft-lora-answer", refs)):
        for seed in (0, 1):
            write_result(tmp_path, method=method, model="smollm2-135m", data="bible_fr_en", profile="smoke", seed=seed,
                         metrics=corpus_scores(hyps, refs), trainable_params=10, total_params=100, wall_time_s=1.0,
                         peak_memory_mb=5.0, checkpoint_size_mb=0.1, sentence_chrf=sentence_chrf(hyps, refs),
                         seconds_per_sentence=0.5, hypotheses=hyps)
    table = translation_table(tmp_path).set_index("method")
    assert list(table.index) == ["zeroshot", "sft-lora-answer"] and table.loc["sft-lora-answer", "seeds"] == 2
    assert table.loc["sft-lora-answer", "chrF"] == "100.0 ± 0.0"
    d = compare(tmp_path, "sft-lora-answer", "zeroshot")
    assert d.seeds == 2 and d.low < d.estimate < d.high and d.low > 0 and len(d.per_seed) == 2
    assert describe_difference("sft-lora-answer", "zeroshot", d).endswith("sft-lora-answer is ahead")
    assert "neither" in describe_difference("a", "b", Paired(0.5, -1.0, 2.0, 3, (0.1, 0.5, 0.9)))


def test_bible_words_count_only_where_the_reference_has_none():
    from tlcourse.lessons.translation_sft import carries_bible_words
    assert carries_bible_words("Thou shalt save the file.", "Save the file.")
    assert not carries_bible_words("God is love.", "God is love.")
    assert not carries_bible_words("Save the file to disk.", "Save the file.")


def test_label_mask_check_names_the_mistake(tok, pairs):
    from tlcourse.checks.translation_sft import check_label_mask
    chat = messages(*pairs[0])
    ids, right = chat_ids(tok, chat), encode_chat(tok, chat)["labels"]
    assert check_label_mask(right, tok, chat).startswith("Correct")
    with pytest.raises(AssertionError, match="every-token"):
        check_label_mask(ids, tok, chat)
    with pytest.raises(AssertionError, match="inverted"):
        check_label_mask([IGNORE if y != IGNORE else t for y, t in zip(right, ids)], tok, chat)
    with pytest.raises(AssertionError, match="assistant header"):
        n = len(chat_ids(tok, chat[:-1]))
        check_label_mask([IGNORE] * n + ids[n:], tok, chat)
    with pytest.raises(AssertionError, match="end-of-turn"):
        check_label_mask(right[:-2] + [IGNORE, IGNORE], tok, chat)


def test_learned_share_and_chrf_checks(tok, pairs):
    from tlcourse.checks.translation_sft import _chrf_parts, check_chrf, check_learned_share
    answer, every = (encode_pairs(tok, *zip(*pairs), answer_only=a) for a in (True, False))
    share = learned_tokens(answer) / learned_tokens(every)
    assert check_learned_share(share, answer, every).startswith("Correct")
    with pytest.raises(AssertionError, match="percentage"):
        check_learned_share(100 * share, answer, every)
    hyps, refs = ["A soft answer turns away anger.", "God is love"], ["A gentle answer turns away wrath.", "God is love."]
    assert _chrf_parts(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert check_chrf(sacrebleu.corpus_chrf(hyps, [refs]).score, hyps, refs).startswith("Correct")
    mean = np.mean([sacrebleu.sentence_chrf(h, [r]).score for h, r in zip(hyps, refs)])
    for wrong, hint in ((mean, "mean of the sentence"), (_chrf_parts(hyps, refs, spaces=True), "spaces"),
                        (_chrf_parts(hyps, refs, beta=1.0), "beta = 2")):
        with pytest.raises(AssertionError, match=hint):
            check_chrf(wrong, hyps, refs)


def test_the_runners_write_what_the_tables_read_and_read_it_back(tmp_path, monkeypatch):
    """run_pilot, run_sft (its rate chosen by choose_rate) and run_domain in the smoke profile: each
    writes its file, the tables read them, and a second call reads the file instead of training."""
    from tlcourse.lessons import translation_sft as ts
    monkeypatch.setattr(ts, "RUNS", tmp_path / "runs")  # the adapters the domain run starts from
    profile, sizes = tlcourse.get_profile("smoke"), translate_sizes("smoke")
    pilot = ts.run_pilot(out_dir=tmp_path, profile=profile)
    assert len(pilot["curve"]) == len(sizes.pilot_pairs) * sizes.pilot_epochs
    assert all(math.isfinite(p["val_loss"]) and 0 <= p["val_chrf"] <= 100 for p in pilot["curve"])
    bible = ts.run_sft("sft-lora-answer", 0, out_dir=tmp_path, profile=profile)
    assert bible["lr"] in ts.rate_grid("sft-lora-answer", sizes) and len(bible["hypotheses"]) == sizes.test_pairs
    assert ts.adapter_dir("sft-lora-answer", 0, profile).exists() and math.isfinite(bible["metrics"]["news_ppl"])
    domain = ts.run_domain(sizes.domain_sizes[0], out_dir=tmp_path, profile=profile)
    assert domain["in_domain_pairs"] == sizes.domain_sizes[0] and domain["bible_model"]["lr"] == bible["lr"]
    assert list(ts.translation_table(tmp_path).method) == ["sft-lora-answer"]
    assert sizes.domain_sizes[0] in ts.domain_table(tmp_path)["in-domain pairs"].tolist()
    monkeypatch.setattr(ts, "fit_sft", lambda *args, **kwargs: pytest.fail("trained again"))
    assert ts.run_sft("sft-lora-answer", 0, out_dir=tmp_path, profile=profile) == bible
    assert ts.run_domain(sizes.domain_sizes[0], out_dir=tmp_path, profile=profile) == domain
