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
