"""Quantised loading (bitsandbytes on the CPU): smaller weights, nearby logits, and QLoRA training only its adapters."""
import pytest
import torch

from tlcourse.methods import quantise


@pytest.fixture
def saved(tiny, tmp_path):
    tiny.save_pretrained(tmp_path)
    return str(tmp_path)


def test_each_format_shrinks_the_linear_layers_and_keeps_the_logits_near(tiny, saved):
    ids = torch.randint(0, tiny.config.vocab_size, (2, 12))
    models = {fmt: quantise.load_quantised(saved, fmt, device="cpu") for fmt in quantise.FORMATS}
    sizes = {fmt: quantise.weights_mb(m) for fmt, m in models.items()}
    assert sizes["nf4"] < sizes["int8"] < sizes["fp32"] == quantise.weights_mb(tiny) and sizes["bf16"] < sizes["fp32"]
    with torch.no_grad():
        ref = tiny(ids).logits
        gaps = {fmt: (m(ids).logits.float() - ref).abs().max().item() for fmt, m in models.items()}
    assert gaps["fp32"] == 0 < gaps["bf16"] < gaps["nf4"] < ref.abs().max().item()


def test_an_unknown_format_names_the_known_ones(saved):
    with pytest.raises(ValueError, match="fp32, bf16, int8, nf4"):
        quantise.load_quantised(saved, "int4")


def test_qlora_trains_the_adapters_alone_and_its_loss_falls(saved):
    model = quantise.qlora(quantise.load_quantised(saved, "nf4", device="cpu"), r=4, dropout=0.0,
                           target_modules="all-linear")
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    ids = torch.randint(0, model.config.vocab_size, (4, 16))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
