"""Lesson 11's DPO: the loss by its formula, as the wrapped model computes it, and as TRL's
DPOTrainer computes it on one batch; the reference's log-probabilities; a fit that lowers it."""
import copy

import pytest
import torch

from tlcourse.methods.dpo import DPOModel, collator, dpo_loss, preference_pairs, sequence_logps, with_reference_logps

TEXTS = [("The film is", " a joy from start to finish.", " a dull, tired mess."),
         ("A story of", " courage, warmth and wit.", " nothing at all."),
         ("Its actors", " shine.", " sleepwalk through every scene they share.")]


@pytest.fixture
def policy(tiny, monkeypatch):
    """conftest's tiny Llama with LoRA adapters whose B is not zero (so the policy differs from its
    reference, the adapters switched off); fp32 throughout, so log-probabilities compare exactly."""
    from tlcourse.methods.lora import add_lora
    monkeypatch.setenv("TLCOURSE_PRECISION", "fp32")
    model = add_lora(tiny, r=4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    return model.eval()


def _pairs(tok):
    """The texts as token ids, each continuation ending in EOS (as TRL tokenises them)."""
    ids = lambda s: tok(s, add_special_tokens=False)["input_ids"]
    end = [tok.eos_token_id]
    return preference_pairs(*zip(*[(ids(p), ids(c) + end, ids(r) + end) for p, c, r in TEXTS]))


def test_dpo_loss_by_its_formula():
    loss = dpo_loss(torch.tensor([-10.0]), torch.tensor([-12.0]), torch.tensor([-11.0]), torch.tensor([-11.5]), 0.5)
    margin = 0.5 * ((-10 + 11) - (-12 + 11.5))  # 0.75
    assert loss.item() == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(margin)).item())


def test_sequence_logps_sums_the_completion_tokens_only(tok, policy):
    pairs = _pairs(tok)
    batch = collator(tok)([pairs[0]])
    logps = sequence_logps(policy, batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    ids = batch["input_ids"][0]
    n_prompt = len(pairs[0]["prompt_ids"])
    logits = policy(input_ids=ids[None]).logits[0].log_softmax(-1)  # (T, V)
    by_hand = sum(logits[t - 1, ids[t]] for t in range(n_prompt, n_prompt + len(pairs[0]["chosen_ids"])))
    assert logps[0].item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_reference_is_the_model_without_its_adapters(tok, policy):
    pairs = with_reference_logps(policy, _pairs(tok), tok)
    batch = collator(tok)(list(pairs))
    with torch.no_grad():
        out = DPOModel(policy, beta=0.1)(**batch)
        with policy.disable_adapter():
            ref = DPOModel(policy, beta=0.1)(**batch)
    assert out.logits.abs().max() > 1e-3  # the adapters move the log-probabilities: the test can fail
    assert torch.allclose(ref.logits, torch.zeros_like(ref.logits), atol=1e-4)  # reference against itself: r = 0
    assert ref.loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), rel=1e-4)


def test_same_loss_as_trl_dpo_trainer_on_one_batch(tok, policy, tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer
    pairs = _pairs(tok)
    ours = collator(tok)(list(with_reference_logps(policy, pairs, tok)))
    args = DPOConfig(output_dir=str(tmp_path), report_to="none", use_cpu=True, beta=0.1, disable_tqdm=True)
    texts = Dataset.from_list([{"prompt": p, "chosen": c, "rejected": r} for p, c, r in TEXTS])
    reference = copy.deepcopy(policy).unload()  # the model without its adapters, as a model of its own
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=texts, processing_class=tok)
    theirs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])  # TRL's tokenisation
    assert torch.equal(theirs["input_ids"], ours["input_ids"])
    with torch.no_grad():
        loss = DPOModel(trainer.model, beta=0.1)(**ours).loss
        trl_loss = trainer.compute_loss(trainer.model, dict(theirs))
    assert loss.item() == pytest.approx(trl_loss.item(), rel=1e-4)  # fp32 sums in another order (threads, layout)
    assert abs(loss.item() - 0.6931) > 1e-3  # not the loss at the reference: the test can fail


def test_kl_estimate_is_the_mean_log_ratio_and_zero_without_adapters(tok, policy):
    from tlcourse.methods.dpo import mean_kl
    pairs = _pairs(tok)
    prompts, conts = list(pairs["prompt_ids"]), [[c] for c in pairs["chosen_ids"]]
    batch = collator(tok)(list(with_reference_logps(policy, pairs, tok)))
    with torch.no_grad():
        gaps = DPOModel(policy, beta=1.0)(**batch).logits[:, 0]  # log π - log π_ref of each chosen continuation
    assert mean_kl(policy, tok, prompts, conts) == pytest.approx(gaps.mean().item(), rel=1e-2)  # bf16 there
    assert mean_kl(policy.get_base_model(), tok, prompts, conts) == 0.0
