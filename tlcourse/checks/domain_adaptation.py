"""Exercise checks for lesson 08 (domain adaptation)."""
from ..engine.loaders import load_dataset
from ..methods.adapt import binary
from .feedback import close, correct


def check_binary_labels(ds) -> str:
    """`ds`: drug_reviews with the neutral class dropped and labels 0 = negative, 1 = positive."""
    expected = binary(load_dataset("drug_reviews"))
    for split in expected:
        if split not in ds:
            raise AssertionError(f"The split {split!r} is missing: map every split of the DatasetDict.")
        labels = sorted(set(ds[split]["label"]))
        if len(ds[split]) == len(load_dataset("drug_reviews")[split]):
            raise AssertionError("Nothing was dropped: filter out the neutral reviews (label 1).")
        if labels != [0, 1]:
            raise AssertionError(f"{split} labels are {labels}; map positive (2) to 1 so labels are 0 and 1.")
        if list(ds[split]["label"]) != list(expected[split]["label"]):
            raise AssertionError(f"{split}: the labels differ from dropping neutral and mapping 0->0, 2->1.")
    n = {s: len(expected[s]) for s in expected}
    return correct(f"two classes left: {n}")


def check_ppl_drop(value, before: float, after: float) -> str:
    """`value`: the relative fall in perplexity, (before - after) / before, as a fraction."""
    expected = (before - after) / before
    if close(value, expected, rel=1e-3):
        verdict = "meets" if expected >= 0.2 else "falls short of"
        return correct(f"perplexity fell by {expected:.1%}: this {verdict} the course's 20% goal "
                       "(Gururangan et al.: 21.75 -> 11.32 is 48%)")
    if close(value, 100 * expected, rel=1e-3):
        raise AssertionError("That is in percent; give a fraction (0.25 for 25%).")
    if close(value, (before - after) / after, rel=1e-3):
        raise AssertionError("Divide by the perplexity before adaptation, not after.")
    if close(value, -expected, rel=1e-3):
        raise AssertionError("Wrong sign: a fall should be positive, (before - after) / before.")
    raise AssertionError(f"Expected (before - after) / before = ({before:.2f} - {after:.2f}) / {before:.2f}.")


def check_gap(value, scores) -> str:
    """`value`: the highest minus the lowest group score in `scores` (a pandas Series)."""
    expected = float(scores.max() - scores.min())
    if close(value, expected, rel=1e-6):
        return correct(f"{scores.idxmax()!r} scores {expected:.3f} higher than {scores.idxmin()!r} "
                       "on sentences identical but for that word")
    if close(value, float(scores.std()), rel=1e-6):
        raise AssertionError("That is the standard deviation; the gap is max - min.")
    if close(value, -expected, rel=1e-6):
        raise AssertionError("Wrong sign: take the highest minus the lowest.")
    raise AssertionError("Expected scores.max() - scores.min().")
