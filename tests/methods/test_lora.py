"""LoRA through peft: few trainable parameters, a small adapter file, an exact merge."""
import pytest
import torch

import tlcourse
from tlcourse.engine.params import count_params
from tlcourse.methods.lora import add_lora, ALL_LINEAR, merge, merged, save_adapter


@pytest.fixture
def classifier():
    torch.manual_seed(0)
    return tlcourse.load_model("minilm-l6", task="classification", num_labels=2)


def test_lora_trains_under_one_percent(classifier):
    model = add_lora(classifier, r=8)
    trainable, total = count_params(model)
    assert trainable < 0.01 * total
    assert any("lora_A" in n for n, p in model.named_parameters() if p.requires_grad)


def test_adapter_file_is_small_and_merge_is_exact(classifier, tmp_path):
    model = add_lora(classifier, r=4)
    with torch.no_grad():  # B starts at zero; make the adapter do something
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    model.eval()
    batch = tlcourse.load_tokenizer("minilm-l6")(["a fine film", "dull"], padding=True,
                                                 return_tensors="pt")
    with torch.no_grad():
        before = model(**batch).logits
        size = save_adapter(model, tmp_path / "adapter")
        merged = merge(model)
        after = merged(**batch).logits
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert size < 1.0  # MB, against ~87 MB for the full model
    assert torch.allclose(before, after, atol=1e-5)
    assert not any("lora" in n for n, _ in merged.named_parameters())


def test_unknown_target_modules_list_the_real_ones(classifier):
    with pytest.raises(ValueError, match=r"\['q_proj'\] are not in .*'query'"):
        add_lora(classifier, target_modules=["q_proj"])
    with pytest.raises(ValueError, match="rank"):
        add_lora(classifier, r=0)


def test_lora_on_smollm2_targets_attention():
    model = add_lora(tlcourse.load_model("smollm2-135m"), r=8)
    trainable, total = count_params(model)
    assert 0 < trainable < 0.005 * total


def test_all_linear_adapts_every_block_layer_but_not_the_head():
    from tlcourse.engine.models import classifier as course_classifier
    model = add_lora(course_classifier("minilm-l6", 2, seed=0), r=4, target_modules=ALL_LINEAR)
    adapted = {n.rsplit(".lora_A", 1)[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if ".lora_A" in n}
    assert adapted == {"query", "key", "value", "dense"}
    head = [n for n, p in model.named_parameters() if "classifier" in n and p.requires_grad]
    assert head and not any("lora" in n for n in head)  # the new head trains fully, unadapted


def test_a_bf16_lora_model_generates_with_a_contiguous_input_to_its_output_layer(tok, tiny, monkeypatch):
    """generate() slices the last position for the output layer; a strided bf16 input sends torch's CPU
    matmul down a path that expands the weight per row (gigabytes for SmolLM2): add_lora's hook copies it."""
    monkeypatch.setenv("TLCOURSE_PRECISION", "bf16")
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR)
    contiguous = []
    model.get_output_embeddings().register_forward_pre_hook(lambda m, args: contiguous.append(args[0].is_contiguous()))
    ids = torch.tensor([tok("Dieu est amour et la paix", add_special_tokens=False)["input_ids"]] * 3)  # (3, T)
    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False,
                   pad_token_id=tok.pad_token_id)
    assert {p.dtype for p in model.get_output_embeddings().parameters()} == {torch.bfloat16}
    assert contiguous and all(contiguous)


def test_merging_for_sampling_leaves_the_base_weights_exactly_as_they_were(tiny):
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # adapters large enough to move the weights they fold into
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.tensor([[5, 6, 7, 8]])
    unmerged = model(input_ids=ids).logits
    for _ in range(5):
        with merged(model):
            torch.testing.assert_close(model(input_ids=ids).logits, unmerged, rtol=0.05, atol=0.05)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
