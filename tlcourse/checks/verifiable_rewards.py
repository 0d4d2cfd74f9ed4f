"""Exercise checks for lesson 12 (fine-tuning with a reward a program can check)."""
import numpy as np

from ..methods.checkable import contract_graded, graded, group_advantages
from .feedback import correct


def check_advantages(advantages, rewards, group: int) -> str:
    """`advantages` should be GRPO's for `rewards` (groups of `group` completions of one prompt each):
    (reward - the group's mean) / (the group's standard deviation, Bessel-corrected, + 1e-4), as TRL."""
    try:
        ours = np.asarray(advantages, dtype=float).ravel()
    except (TypeError, ValueError):
        raise AssertionError("`advantages` should be a list or array of numbers, one per reward.") from None
    expected = group_advantages(rewards, group)
    if ours.shape != expected.shape:
        raise AssertionError(f"Expected {expected.size} advantages, one per reward; got {ours.size}.")
    if np.allclose(ours, expected, atol=1e-3):
        return correct("each completion is scored against the other completions of its own prompt: "
                       "above the group's mean it is pushed up, below it pushed down; a group that is all "
                       "right (or all wrong) gets 0 and teaches nothing")
    r = np.asarray(rewards, dtype=float).reshape(-1, group)
    centred = (r - r.mean(1, keepdims=True)).ravel()
    wrong = {"That is the reward minus the group's mean, not yet divided by the group's standard deviation":
             centred,
             "The standard deviation should have Bessel's correction (divide by group - 1, numpy's ddof=1)":
             centred / (r.std(1, keepdims=True) + 1e-4).repeat(group, 1).ravel(),
             "Compare each reward with its own group, not with the mean of every reward":
             (r.ravel() - r.mean()) / (r.std(ddof=1) + 1e-4)}
    for message, value in wrong.items():
        if np.allclose(ours, value, atol=1e-3):
            raise AssertionError(message + ".")
    raise AssertionError("Reshape the rewards to (prompts, group); subtract each row's mean and divide by the "
                         "row's standard deviation (ddof=1) + 1e-4.")


def check_grades(right, kept, completions, answers) -> str:
    """`right` and `kept` should be, per completion, whether its last integer is the answer and whether
    the stripped completion is one integer and nothing else (lists of 0/1 or True/False)."""
    expected = graded(completions, answers)
    right, kept = (np.asarray(v, dtype=float).ravel() for v in (right, kept))
    if right.shape != expected["correct"].shape or kept.shape != expected["format"].shape:
        raise AssertionError(f"Give one value per completion ({len(completions)}) in each list.")
    for name, ours, theirs in (("right", right, expected["correct"]), ("kept", kept, expected["format"])):
        wrong = np.flatnonzero(ours != theirs)
        if wrong.size:
            i = wrong[0]
            raise AssertionError(f"`{name}` is wrong for completion {i} ({completions[i]!r}, answer {answers[i]}).")
    return correct(f"{expected['correct'].mean():.0%} right, {expected['format'].mean():.0%} in the format asked for: "
                   "a right answer inside a sentence counts as right but not as kept, which is how the lesson tells "
                   "a gain in correctness from a gain in format")


def check_contract(strict, loose, completions, answers, ended) -> str:
    """`strict` and `loose` should be, per completion, whether it is right under the answer contract (a last
    line 'Answer: N' with the right N, no other 'Answer:', and not cut off) and whether its last integer is
    the answer (lists of 0/1 or True/False)."""
    expected = contract_graded(completions, answers, ended)
    strict, loose = (np.asarray(v, dtype=float).ravel() for v in (strict, loose))
    if strict.shape != expected["correct"].shape or loose.shape != expected["loose"].shape:
        raise AssertionError(f"Give one value per completion ({len(completions)}) in each list.")
    hints = {"strict": "under the contract the last line must be 'Answer: N' with the right N, no other line may "
                       "say 'Answer:', and an answer that did not end is wrong",
             "loose": "the loose grader reads the last integer anywhere in the answer, minus sign included"}
    for name, ours, theirs in (("strict", strict, expected["correct"]), ("loose", loose, expected["loose"])):
        wrong = np.flatnonzero(ours != theirs)
        if wrong.size:
            i = wrong[0]
            raise AssertionError(f"`{name}` is wrong for completion {i} ({completions[i]!r}, answer {answers[i]}, "
                                 f"ended {bool(ended[i])}): {hints[name]}.")
    fooled = int(((expected["loose"] == 1) & (expected["correct"] == 0)).sum())
    return correct(f"{fooled} of {len(completions)} answers fool the loose grader: each names the right number "
                   "somewhere without committing to it, which is what a last-number reward pays for")
