"""Lesson 07's experiment: students of a fine-tuned teacher, each trained to its best, over seeds.

    teacher = teacher_run()                               # experiments.teacher: full fine-tuning at seed 0 (cached)
    chosen = run_distillation(teacher)                    # settings chosen on validation, then 3 seeds
    distill_table(), distill_differences()                # read back from the result files
    run_lesson()                                          # the teacher and run_distillation (`make results`)
Under the course's protocol (experiments.protocol): the same validation and test items for every run, the
seed draws the training subset, every student early-stops on validation with its best weights
restored, every setting (rate, temperature, soft-target weight) is chosen on validation at seed 0,
and differences between students are paired on the same test items.
"""
import copy
import itertools
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..engine.config import RESULTS, get_profile
from ..engine.data import data_hash
from ..engine.device import seed_everything
from ..engine.memory import PeakTracker
from ..engine.models import MeanPoolClassifier
from ..engine.records import load_results, write_json
from ..engine.train import fit, TrainConfig
from ..methods.distill import BagOfWords, Distiller, inference_speed, shrink
from ..methods.freezing import two_rate_groups
from ..experiments.method_grid import Experiment, predictions, prepare, protocol, scored, source
from ..experiments.protocol import Choice, paired_difference, search, stored
from ..experiments.teacher import run_path, Teacher, TEACHER, teacher_run, write_run


@dataclass(frozen=True)
class Student:
    body: str = "blocks"      # "blocks": the teacher's architecture with `keep` blocks; "bow": a bag of words
    init: str = "teacher"     # blocks: "teacher" copies its blocks, embeddings and head; "random" draws them afresh
    targets: str = "soft"     # "soft": alpha x the teacher's soft targets + (1 - alpha) x labels; "hard": labels only
    temperature: float = 2.0  # soft targets: teacher and student logits are divided by it
    alpha: float = 0.5        # soft targets: the weight of the soft term
    lr: float = 1e-4          # peak rate (a blocks student's new head learns 10x faster)
    keep: tuple = (0, 3)      # blocks: the teacher's blocks the student keeps (2 of 6: a third)
    seed: int = 0             # training subset, data order, dropout, random initial weights

    @property
    def name(self) -> str:
        """The result files' method name: kd-student-soft, kd-random-soft, kd-bow-hard, ..."""
        kind = "bow" if self.body == "bow" else {"teacher": "student", "random": "random"}[self.init]
        return f"kd-{kind}-{self.targets}"

    def __post_init__(self):
        if self.body not in ("blocks", "bow") or self.init not in ("teacher", "random") \
                or self.targets not in ("soft", "hard"):
            raise ValueError("Student: body is blocks|bow, init teacher|random, targets soft|hard")


# Each search runs at seed 0 on validation, from the previous winner: the rate on hard labels, then
# the soft-target settings at that rate, then a random start's own rate at those settings.
SEARCH = {
    "student-hard": (Student(targets="hard"), {"lr": (5e-5, 1e-4, 2e-4)}),
    "student-soft": ("student-hard", {"targets": ("soft",), "temperature": (1.0, 2.0, 4.0, 8.0), "alpha": (0.5, 0.9)}),
    "random-soft": ("student-soft", {"init": ("random",), "lr": (3e-5, 1e-4, 3e-4, 1e-3)}),
    "bow-hard": (Student(body="bow", targets="hard"), {"lr": (3e-3, 1e-2, 3e-2)}),
}
def run_student(s: Student, teacher: Teacher, profile=None, out_dir=None, trained=None) -> dict:
    """Train one student to its best on validation, score it on test once, write its result file.

    A file already there for the same student, protocol, data and teacher is read, not rerun;
    trained: (record, test scorer, params) of this very run, already trained by `choose`."""
    profile = profile or get_profile()
    path = run_path(out_dir, profile, s.name, s.seed)
    if record := stored(path, _asked(s, teacher, profile)):
        return record
    record, score_test, params = trained or _validated(s, teacher, profile)
    record = record | score_test()
    wall_time_s, peak_memory_mb = record.pop("wall_time_s"), record.pop("peak_memory_mb")
    return json.loads(write_run(out_dir, profile, s.name, s.seed, record, params, wall_time_s,
                             peak_memory_mb).read_text())


def _validated(s: Student, teacher: Teacher, profile) -> tuple[dict, object, int]:
    """Train one student, early-stopping on validation: (record, function scoring the test set, params)."""
    seed_everything(s.seed)
    data = prepare(Experiment(TEACHER, seed=s.seed), profile)
    student = build_student(s, teacher.model, data.num_labels, len(data.tokenizer))
    model = Distiller(student, teacher.model, s.temperature, s.alpha) if s.targets == "soft" else student
    config = TrainConfig.from_profile(profile, lr=s.lr, seed=s.seed)
    groups = two_rate_groups(student, s.lr, 10 * s.lr) if s.body == "blocks" else None
    start = time.perf_counter()
    with PeakTracker() as mem:
        run = fit(model, data.train, data.validation, config, param_groups=groups, tokenizer=data.tokenizer)
    record = {"wall_time_s": time.perf_counter() - start, "peak_memory_mb": mem.mb,
              "val_accuracy": run.metrics["accuracy"], "best_epoch": run.best_epoch, "steps": run.steps,
              "stopped_early": run.stopped_early,
              "val_curve": [r["eval_accuracy"] for r in run.history if "eval_accuracy" in r],
              "inference_examples_per_s": inference_speed(student, teacher.batches),
              "lr": s.lr, "train_size": len(data.train)} | _asked(s, teacher, profile)
    labels = data.raw["test"]["label"]
    return (record, lambda: scored(predictions(student, data.test, data.tokenizer), labels),
            sum(p.numel() for p in student.parameters()))


def build_student(s: Student, teacher, num_labels: int, vocab_size: int):
    """The student before training: teacher blocks `keep` (copied or freshly drawn), or a bag of words."""
    from transformers import BertModel
    torch.manual_seed(s.seed)  # the new weights
    if s.body == "bow":
        return BagOfWords(vocab_size, num_labels)
    if s.init == "teacher":
        return shrink(teacher, list(s.keep))
    config = copy.deepcopy(teacher.backbone.config)
    config.num_hidden_layers = len(s.keep)
    return MeanPoolClassifier(BertModel(config, add_pooling_layer=False), num_labels)


def choose(start: Student, grid: dict, teacher: Teacher, profile=None, out_dir=None) -> Choice:
    """The grid's best setting by validation accuracy at seed 0 (ties: the first), from `start`, by
    protocol.search (candidates kept under <out_dir>/sweep/; the test set is not scored for them).
    Choice.value is the winning Student; its candidates list each setting and its accuracy."""
    profile = profile or get_profile()
    settings = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    students = [replace(start, seed=0, **setting) for setting in settings]
    setting_of = {s: setting for s, setting in zip(students, settings)}

    def label(s):
        return "__".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}-{v}" for k, v in setting_of[s].items())

    name = run_path(out_dir, profile, students[0].name, 0).stem
    def validate(s):  # (record, (test scorer, params)): what run_student needs to finish the winner
        record, score_test, params = _validated(s, teacher, profile)
        return record, (score_test, params)

    return search(name, students, validate,
                  Path(out_dir or RESULTS / profile.name), lambda s: _asked(s, teacher, profile), label=label,
                  describe=lambda s, r: setting_of[s] | {"val_accuracy": r["val_accuracy"]})


def run_distillation(teacher: Teacher, seeds=None, out_dir=None, profile=None) -> dict:
    """Every SEARCH entry chosen on validation, the bag of words also taught at the chosen soft
    settings, then every chosen student at every seed of the profile; returns {name: Student}."""
    profile = profile or get_profile()
    chosen, candidates, trained = {}, {}, {}
    for name, (start, grid) in SEARCH.items():
        start = chosen[start] if isinstance(start, str) else start
        choice = choose(start, grid, teacher, profile, out_dir)
        chosen[name], candidates[name] = choice.value, choice.candidates
        trained[name] = (choice.winner[0], *choice.winner[1]) if choice.winner else None
    soft = chosen["student-soft"]
    chosen["bow-soft"] = replace(chosen["bow-hard"], targets="soft", temperature=soft.temperature, alpha=soft.alpha)
    for name, s in tqdm(chosen.items(), desc="students"):
        for seed in seeds or profile.seeds:
            record = run_student(replace(s, seed=seed), teacher, profile, out_dir,
                                 trained.get(name) if seed == 0 else None)
            if record.get("candidates") != candidates.get(name, []):
                write_json(run_path(out_dir, profile, s.name, seed), record | {"candidates": candidates.get(name, [])})
    return chosen


def run_lesson() -> dict:
    """The lesson's experiments (what `make results` runs): the teacher, then every student. Each run
    is read back from its result file while protocol.stored says it stands."""
    return run_distillation(teacher_run())


def _asked(s: Student, teacher: Teacher, profile) -> dict:
    """What a stored student run must match to stand for this one."""
    exp = Experiment(TEACHER)
    return {"experiment": asdict(s) | {"keep": list(s.keep)}, "protocol": protocol(exp, profile),
            "data_hash": data_hash(source(exp)), "teacher": teacher.key}


def distill_table(folder=None, teacher: str = "kd-teacher"):
    """Teacher and students from their result files: accuracy (mean and std over seeds), the settings
    chosen on validation, parameters, speed, and the share of the teacher's accuracy and speed."""
    frame = load_results(folder or RESULTS / get_profile().name)
    frame = frame[frame.method.str.startswith("kd-")]
    ref = frame[frame.method == teacher]
    rows = []
    for method, runs in frame.groupby("method", sort=False):
        acc = 100 * runs.metric_accuracy
        fields = runs.experiment.iloc[0] if "experiment" in runs and isinstance(runs.experiment.iloc[0], dict) else {}
        soft = fields.get("targets") == "soft"
        rows.append({"model": method.removeprefix("kd-"), "accuracy %": acc.mean(),
                     "± std": acc.std(ddof=1) if len(acc) > 1 else 0.0, "seeds": len(runs),
                     "lr": f"{fields['lr']:g}" if fields else "—",
                     "T": f"{fields['temperature']:g}" if soft else "—",
                     "alpha": f"{fields['alpha']:g}" if soft else "—",
                     "best epoch": f"{runs.best_epoch.mean():.1f}" if fields else "—",
                     "parameters": int(runs.trainable_params.iloc[0]),
                     "examples/s": runs.inference_examples_per_s.median(),
                     "% of teacher accuracy": 100 * acc.mean() / (100 * ref.metric_accuracy.mean()),
                     "speed-up": runs.inference_examples_per_s.median() / ref.inference_examples_per_s.median()})
    order = ["teacher", "student-soft", "student-hard", "random-soft", "bow-soft", "bow-hard"]
    table = pd.DataFrame(rows).set_index("model")
    return table.loc[[m for m in order if m in table.index]].round(1)


COMPARISONS = {  # what each paired difference asks: (a, b) as a - b
    "soft + hard targets vs hard labels (2-block student)": ("kd-student-soft", "kd-student-hard"),
    "teacher's blocks vs random start (soft targets)": ("kd-student-soft", "kd-random-soft"),
    "soft + hard targets vs hard labels (bag of words)": ("kd-bow-soft", "kd-bow-hard"),
}


def distill_differences(folder=None):
    """Each COMPARISONS pair: accuracy difference in points on the same test items, seed by seed,
    with its 95% paired bootstrap interval (protocol.paired_difference)."""
    frame = load_results(folder or RESULTS / get_profile().name)
    rows = {question: {"difference (95% interval)": paired_difference(frame[frame.method == a],
                                                                      frame[frame.method == b]),
                       "seeds": len(set(frame[frame.method == a].seed) & set(frame[frame.method == b].seed))}
            for question, (a, b) in COMPARISONS.items()}
    return pd.DataFrame(rows).T
