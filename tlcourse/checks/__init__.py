"""Exercise checks, one module per lesson (tlcourse.checks.llm_basics for lesson 01, ...).

A check takes the learner's answer and what it was computed from, recomputes the answer itself,
and either prints and returns "Correct: ..." with what the answer means, or raises AssertionError
saying in plain words what likely went wrong (a percentage for a fraction, argmin for argmax, a
missing copy or block), so that the learner knows what to change.
"""
