"""Profiles: one switch (TLCOURSE_PROFILE) sets data sizes, lengths, epochs, seeds and batch.

Nothing else differs between profiles, so the code path tested (smoke) is the one taught (cpu)
and the one scaled (gpu).
"""
import os
from dataclasses import dataclass, asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the course checkout
CACHE = Path(os.environ.get("TLCOURSE_CACHE", ROOT / "data" / "cache"))  # git-ignored
RESULTS = ROOT / "results"  # result JSON files, one folder per profile
LESSON_TIMES = "lesson_times.json"  # in each profile's results folder: each lesson's time under `tlcourse run`
LESSON_TIMES_FRESH = "lesson_times_fresh.json"  # the same, for a run that began with no trained model cached (a fresh clone)
RUNS = ROOT / "runs"  # trained artefacts a lesson keeps (adapters, models, preference pairs); git-ignored
EXAMPLES = ROOT / "data" / "examples"  # small data files shipped with the course


@dataclass(frozen=True)
class Profile:
    name: str  # smoke | cpu | gpu
    train_size: int | None  # labeled training examples per task; None = all
    eval_size: int | None  # validation/test examples; None = all
    max_length: int  # tokens per example for classification
    lm_block_size: int  # tokens per block for language modelling
    lm_train_blocks: int | None  # blocks of text for LM training; None = all
    epochs: int  # most passes over the training data; early stopping on validation usually ends sooner
    patience: int  # validation evaluations without a better accuracy before training stops
    batch_size: int  # examples per forward pass per process, as TrainConfig.batch_size (no accumulation)
    seeds: tuple[int, ...]  # one run per seed; tables report mean ± std

    def as_dict(self) -> dict:
        return asdict(self)


PROFILES = {
    "smoke": Profile("smoke", train_size=64, eval_size=64, max_length=32, lm_block_size=32,
                     lm_train_blocks=16, epochs=1, patience=1, batch_size=16, seeds=(0,)),
    "cpu": Profile("cpu", train_size=1000, eval_size=1000, max_length=64, lm_block_size=128,
                   lm_train_blocks=400, epochs=8, patience=2, batch_size=16, seeds=(0, 1, 2)),
    "gpu": Profile("gpu", train_size=None, eval_size=None, max_length=128, lm_block_size=512,
                   lm_train_blocks=None, epochs=8, patience=2, batch_size=32, seeds=(0, 1, 2)),
}


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def profile_name() -> str:
    """TLCOURSE_PROFILE if set, else gpu when CUDA is present, else cpu."""
    name = os.environ.get("TLCOURSE_PROFILE") or ("gpu" if _has_cuda() else "cpu")
    if name not in PROFILES:
        raise ValueError(f"TLCOURSE_PROFILE={name!r} is not a profile; use one of "
                         f"{', '.join(PROFILES)}")
    return name


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The active profile (or the one named), with any field overridden for one experiment."""
    profile = PROFILES[name or profile_name()]
    return replace(profile, **overrides) if overrides else profile


def offline() -> bool:
    """True when the hub must not be contacted (HF_HUB_OFFLINE=1)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
