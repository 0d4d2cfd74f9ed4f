"""GRPO's losses against TRL's on one batch, the shared-prompt forward against one pass over every row,
the rejection loss against a language model's own cross-entropy, and the answer contract's graders."""
import pytest
import torch

from tlcourse.methods import checkable, grpo
from tlcourse.methods.lora import add_lora, ALL_LINEAR


def _batch(model, tok, group=4):
    """Two questions under the contract, `group` sampled completions each, packed."""
    qa = checkable.items("add", "train", 2)
    out = checkable.sampled(model, tok, [checkable.contract_chat(q) for q, _ in qa], n=group, temperature=1.0,
                            new_tokens=6)
    return qa, grpo.pack(out["prompts"], out["completions"], tok.pad_token_id)


@pytest.mark.parametrize("loss_type,beta", [("grpo", 0.0), ("grpo", 0.04), ("dr_grpo", 0.04), ("dapo", 0.04)])
def test_each_loss_type_and_its_gradient_are_trls_on_one_batch(loss_type, beta, tiny, tok, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0)
    qa, (ids, mask, completion) = _batch(model, tok)
    advantages = torch.tensor([1.0, -0.5, 0.2, -0.5, 0.8, 0.3, -0.8, -0.6])  # at beta 0 the loss is -mean(A): the gradient tells
    with torch.no_grad(), model.disable_adapter():
        ref = grpo.token_logps(model, ids, mask, completion.size(1))
    for p in model.parameters():  # adapters away from zero, so that the policy and the reference differ
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    ours = grpo.grpo_loss(grpo.token_logps(model, ids, mask, completion.size(1)), advantages, completion, ref, beta,
                          loss_type=loss_type, max_tokens=6)
    ours_grad = torch.autograd.grad(ours, trainable)
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=8, num_generations=4, beta=beta,
                      loss_type=loss_type, max_completion_length=6, report_to="none", use_cpu=True,
                      gradient_checkpointing=False, bf16=False)
    trainer = GRPOTrainer(model=model, reward_funcs=checkable.correctness_reward, args=args, processing_class=tok,
                          train_dataset=Dataset.from_list([{"prompt": checkable.contract_chat(q), "answer": a}
                                                           for q, a in qa]))
    trainer.current_gradient_accumulation_steps = 1
    width = ids.size(1) - completion.size(1)
    inputs = {"prompt_ids": ids[:, :width], "prompt_mask": mask[:, :width], "completion_ids": ids[:, width:],
              "completion_mask": completion, "advantages": advantages, "ref_per_token_logps": ref,
              "num_items_in_batch": completion.sum()}
    trl = trainer._compute_loss(trainer.model, inputs)
    trl_grad = torch.autograd.grad(trl, trainable)
    gap = torch.cat([(a - b).ravel() for a, b in zip(ours_grad, trl_grad)]).norm()
    assert ours.item() == pytest.approx(trl.item(), rel=1e-5)
    assert gap / torch.cat([b.ravel() for b in trl_grad]).norm() < 1e-4


def test_micro_batches_of_a_step_add_up_to_the_whole_step(tiny, tok):
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0)
    _, (ids, mask, completion) = _batch(model, tok)
    logps, a = grpo.token_logps(model, ids, mask, completion.size(1)), torch.linspace(-1, 1, 8)
    for loss_type in grpo.LOSS_TYPES:
        whole = grpo.grpo_loss(logps, a, completion, loss_type=loss_type, max_tokens=6)
        halves = sum(grpo.grpo_loss(logps[s], a[s], completion[s], loss_type=loss_type, rows=8,
                                    tokens=completion.sum(), max_tokens=6) for s in (slice(0, 4), slice(4, 8)))
        assert halves.item() == pytest.approx(whole.item(), rel=1e-6), loss_type
    with pytest.raises(ValueError, match="dapo"):
        grpo.grpo_loss(logps, a, completion, loss_type="ppo")


def test_a_prompt_run_once_for_its_group_gives_the_same_logps_and_gradients(tiny, tok):
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0)
    for p in model.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    _, (ids, mask, completion) = _batch(model, tok)
    trainable = [p for p in model.parameters() if p.requires_grad]
    one = grpo.token_logps(model, ids, mask, completion.size(1))  # (8, C)
    shared = grpo.token_logps(model, ids, mask, completion.size(1), group=4)
    assert torch.allclose(one, shared, atol=1e-5)
    weights = torch.randn_like(one)
    g_one = torch.autograd.grad((one * weights).sum(), trainable)
    g_shared = torch.autograd.grad((shared * weights).sum(), trainable)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g_one, g_shared))


def test_the_rejection_loss_is_the_models_own_cross_entropy_on_the_kept_answers(tiny, tok):
    from tlcourse.methods.lm import IGNORE
    _, (ids, mask, completion) = _batch(tiny, tok)
    keep = torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    ours = grpo.rejection_loss(grpo.token_logps(tiny, ids, mask, completion.size(1)), keep, completion)
    labels = torch.full_like(ids, IGNORE)
    width = ids.size(1) - completion.size(1)
    labels[:, width:] = torch.where(completion.bool() & keep.bool().unsqueeze(1), ids[:, width:], IGNORE)
    library = tiny(input_ids=ids, attention_mask=mask, labels=labels).loss  # mean over the labelled tokens
    assert ours.item() == pytest.approx(library.item(), rel=1e-5)


def test_the_strict_grader_holds_answers_to_the_contract_and_the_loose_one_is_fooled():
    texts = ["Answer: 74", "65.74.", "74 is 74 or 65", "To solve this we need the difference between 43 and 74",
             "43ortunately 43", "74 is larger.\nAnswer: 74", "Answer: 74\nAnswer: 74", "Answer: 65"]
    answers, ended = [74, 74, 74, 74, 43, 74, 74, 74], [1, 1, 1, 0, 1, 1, 1, 1]
    g = checkable.contract_graded(texts, answers, ended)
    assert g["correct"].tolist() == [1, 0, 0, 0, 0, 1, 0, 0]
    assert g["loose"].tolist() == [1, 1, 0, 1, 1, 1, 1, 0]
    assert g["cut_off"].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert checkable.contract_answer("Answer: 74", ended=False) is None  # cut off: it never said it was done


def test_majority_vote_counts_only_answers_under_the_contract():
    assert checkable.majority_correct(["Answer: 5", "Answer: 7", "Answer: 5", "7 7 7"], [1] * 4, 5)
    assert not checkable.majority_correct(["Answer: 7", "Answer: 5"], [1, 1], 5)  # a tie: the first to reach it
    assert not checkable.majority_correct(["5", "five"], [1, 1], 5)


def test_chance_is_a_coin_flip_for_the_larger_of_two_and_small_for_sums():
    assert checkable.chance("larger") == 0.5
    assert checkable.chance("add") < 0.02 and checkable.chance("letter") == pytest.approx(1 / 6)
