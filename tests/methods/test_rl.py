"""The loop that trains a chat model on its own graded answers: each objective steps, logs its diagnostics
and ends with the weights of its best evaluation."""
import pytest
import torch

from tlcourse.engine.params import trainable_copy
from tlcourse.methods import checkable
from tlcourse.methods.lora import add_lora, ALL_LINEAR
from tlcourse.methods.rl import PolicyConfig, train_policy


def _train(tiny, tok, objective, pool=None, beta=0.0):
    model = add_lora(tiny, r=4, target_modules=ALL_LINEAR, dropout=0.0)
    train = [(checkable.contract_chat(q), a) for q, a in checkable.items("add", "train", 4)]
    grade = lambda texts, answers, ended: {"correct": torch.arange(len(texts)).remainder(3).eq(0).float().numpy()}
    scores, kept = iter([0.2, 0.5, 0.1]), {}

    def evaluate(m):  # the second evaluation is the best: its weights must be the ones that end
        score = next(scores)
        kept[score] = trainable_copy(m)
        return score

    config = PolicyConfig(objective=objective, lr=1e-2, steps=2, prompts_per_step=2, group=3, micro_batch=1,
                          new_tokens=4, beta=beta, eval_every=1)
    run = train_policy(model, tok, train, grade, evaluate, config, pool)
    return model, run, kept


@pytest.mark.parametrize("objective,beta", [("grpo", 0.0), ("grpo", 0.04), ("rejection", 0.0)])
def test_each_objective_steps_logs_and_ends_at_its_best_evaluation(tiny, tok, objective, beta):
    model, run, kept = _train(tiny, tok, objective, beta=beta)
    assert [c["step"] for c in run["val_curve"]] == [0, 1, 2] and run["best_step"] == 1 and run["val_score"] == 0.5
    now = trainable_copy(model)
    assert all(torch.equal(now[k], kept[0.5][k]) for k in now)
    assert not all(torch.equal(kept[0.5][k], kept[0.2][k]) for k in now)  # the first step moved the weights
    for row in run["log"]:
        assert {"reward", "reward_std", "no_signal_groups", "cut_off", "length", "loss", "kl"} <= set(row)
        assert row["kl"] >= 0


def test_a_fixed_pool_trains_without_sampling(tiny, tok):
    prompt = checkable.chat_ids(tok, checkable.contract_chat("What is 2 + 3?"), generation_prompt=True)
    pool = [(prompt, tok("Answer: 5", add_special_tokens=False)["input_ids"] + [tok.eos_token_id])] * 4
    _, run, _ = _train(tiny, tok, "rejection", pool=pool)
    assert [row["trained_on"] for row in run["log"]] == [2, 2] and "reward" not in run["log"][0]


def test_an_unknown_objective_says_which_exist(tiny, tok):
    with pytest.raises(ValueError, match="rejection"):
        _train(tiny, tok, "ppo")
