"""The trainer benchmark runs end to end on a tiny model saved to disk (seconds)."""
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from tlcourse.tools.bench import bench_trainer

WORDS = "the a film movie good bad great awful plot acting was is not very".split()


def test_bench_trainer_reports_both_sides(tmp_path):
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]").save_pretrained(tmp_path)
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=32, num_labels=2)
                                  ).save_pretrained(tmp_path)
    texts = [" ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(3 + i % 9)) for i in range(40)]
    out = tmp_path / "bench.json"
    report = bench_trainer(tmp_path, texts, [i % 2 for i in range(40)], steps=3, batch_size=4, max_length=8,
                           repeats=2, out_json=out)
    assert json.loads(out.read_text())["ratio"] == report["ratio"] > 0
    assert len(report["ratio_per_repeat"]) == 2
    for side in ("tlcourse", "trainer"):
        runs = report[side]["runs"]
        assert runs[0]["real_tokens"] == runs[1]["real_tokens"] == sum(min(8, 3 + i % 9) for i in range(12))
        assert 0.5 < runs[0]["train_loss_mean"] < 1.0  # ~ln 2 for an untrained 2-class head
    assert report["hardware"]["cores"] >= 1 and report["versions"]["transformers"]


def test_flops_per_token_counts_frozen_weights_four_and_a_tied_head():
    from transformers import LlamaConfig, LlamaForCausalLM
    from tlcourse.engine.telemetry import flops_per_token
    from tlcourse.methods.lora import add_lora, ALL_LINEAR
    config = LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    embedding = model.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters()) - embedding  # the tied head is the embedding
    assert flops_per_token(model, 10) == 6 * (body + embedding) + 12 * 1 * 16 * 10
    lora = add_lora(model, r=2, target_modules=ALL_LINEAR, dropout=0.0)
    adapters = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    assert flops_per_token(lora, 10) == 4 * (body + embedding) + 6 * adapters + 12 * 1 * 16 * 10


def test_bench_llm_times_every_recipe_against_the_peak(tmp_path, monkeypatch):
    from transformers import LlamaConfig, LlamaForCausalLM
    import tlcourse.tools.bench_llm as bench_llm

    def tiny(name, attn_implementation):
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=49152, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
                             attn_implementation=attn_implementation)
        return LlamaForCausalLM(config)

    monkeypatch.setattr(bench_llm, "load_model", tiny)
    monkeypatch.setattr(bench_llm, "matmul_peak", lambda dtype: 1e12)
    report = bench_llm.bench_llm(steps=1, repeats=1, out_json=tmp_path / "llm.json")
    assert set(report["recipes"]) == set(bench_llm.RECIPES)
    assert report["recipes"]["before"]["ratio"] == 1.0
    assert all(r["flops_per_s"] > 0 and r["examples_per_s"] > 0 for r in report["recipes"].values())
    assert [len(rows) for rows in report["profiles"].values()] == [5, 5]
    assert json.loads((tmp_path / "llm.json").read_text())["recipes"]["all"]["dropout"] == 0.0
