"""What every exercise check shares: the "Correct: ..." line and a tolerant comparison."""
import math


class Passed(str):
    """A check's "Correct: ..." line, returned for tests; a notebook does not show it a second time."""

    def _ipython_display_(self):
        pass


def correct(message: str) -> Passed:
    """Print and return "Correct: <message>"."""
    print(f"Correct: {message}")
    return Passed(f"Correct: {message}")


def close(a, b, rel: float = 0.02) -> bool:
    """Whether a and b are numbers within `rel` of each other (False for None or a non-number)."""
    try:
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False
