"""engine.attention: the training loop trains a causal LM with eager attention and gives the model back
as it was; generation inside the loop runs fused."""
from tlcourse.engine.infer import continuations
from tlcourse.engine.lm_loss import labelled_loss
from tlcourse.engine.train import fit, TrainConfig
from tlcourse.methods.sft import collator, encode_pairs


def test_fit_trains_a_causal_lm_with_eager_attention_and_gives_the_model_back_as_it_was(tok, tiny, monkeypatch, pairs):
    seen = []
    monkeypatch.setattr("tlcourse.engine.train.labelled_loss",
                        lambda model, batch: seen.append(tiny.config._attn_implementation) or labelled_loss(model, batch))
    tiny.set_attn_implementation("sdpa")
    fit(tiny, encode_pairs(tok, *zip(*pairs)), None, TrainConfig(lr=1e-3, max_steps=1, batch_size=3, progress=False),
        collate_fn=collator(tok))
    assert seen == ["eager"] and tiny.config._attn_implementation == "sdpa"


def test_generation_inside_fit_runs_with_fused_attention(tok, tiny, pairs):
    seen = []
    tiny.model.register_forward_pre_hook(lambda m, *_: seen.append(tiny.config._attn_implementation))
    prompt = tok("Dieu est amour", add_special_tokens=False)["input_ids"]
    fit(tiny, encode_pairs(tok, *zip(*pairs)), None, TrainConfig(lr=1e-3, max_steps=2, batch_size=3, progress=False),
        collate_fn=collator(tok), on_epoch=lambda epoch: continuations(tiny, tok, [prompt], 1, 2, do_sample=False))
    assert "sdpa" in seen and seen[-1] == "eager"
