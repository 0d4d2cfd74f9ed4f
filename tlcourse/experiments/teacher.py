"""The teacher lessons 07, 08 and 11 start from: lesson 05's full fine-tuning of MiniLM at seed 0,
trained once under the protocol (then loaded from data/cache/trained/), scored and timed once; and
the result files of classifiers on Rotten Tomatoes that train every parameter (teacher, students)."""
import json
from dataclasses import dataclass
from pathlib import Path

from ..engine.config import RESULTS, get_profile
from ..engine.params import count_params
from ..engine.records import result_name, write_result
from ..methods.distill import inference_speed, text_batches
from .method_grid import Experiment, predictions, scored, train_classifier, trained_path
from .protocol import stored

TEACHER = "full"  # the teacher: lesson 05's full fine-tuning at seed 0, under the same protocol


@dataclass
class Teacher:
    model: object     # the fine-tuned classifier, frozen in eval mode
    record: dict      # its result file (kd-teacher): test accuracy, per-item correctness, speed
    key: str          # its trained weights' file: a student records it, so a new teacher reruns it
    batches: list     # the test texts' batches every model is timed on


def teacher_key(profile) -> str:
    """The teacher's name, made of everything it is trained from (its weights' file under
    data/cache/trained/): a run that records it is rerun when the teacher would differ."""
    return trained_path(Experiment(TEACHER, seed=0), profile).name


def teacher_run(profile=None, out_dir=None) -> Teacher:
    """The teacher (trained once, then loaded from data/cache/trained/), scored and timed."""
    profile = profile or get_profile()
    model, _, (_, test, tokenizer, _, raw) = train_classifier(Experiment(TEACHER, seed=0), profile)
    batches = text_batches(tokenizer, raw["test"]["text"][:256], 32, profile.max_length)
    key, path = teacher_key(profile), run_path(out_dir, profile, "kd-teacher", 0)
    if stored(path, {"teacher": key}) is None:  # scored and timed once per teacher
        record = scored(predictions(model, test, tokenizer), raw["test"]["label"])
        record |= {"inference_examples_per_s": inference_speed(model, batches), "teacher": key}
        path = write_run(out_dir, profile, "kd-teacher", 0, record, count_params(model)[1], None, None)
    return Teacher(model, json.loads(path.read_text()), key, batches)


def run_path(out_dir, profile, method: str, seed: int, tag: str = "") -> Path:
    name = result_name(method, "minilm-l6", "rotten_tomatoes", profile.name, seed)
    return Path(out_dir or RESULTS / profile.name) / (name.replace(".json", f"__{tag}.json") if tag else name)


def write_run(out_dir, profile, method: str, seed: int, record: dict, params: int, wall_time_s,
              peak_memory_mb) -> Path:
    """records.write_result for one run of a classifier that trains all its parameters (teacher, students)."""
    record = dict(record)
    metrics = record.pop("metrics")
    return write_result(out_dir or RESULTS / profile.name, method=method, model="minilm-l6", data="rotten_tomatoes",
                        profile=profile.name, seed=seed, metrics=metrics, trainable_params=params,
                        total_params=params, wall_time_s=wall_time_s, peak_memory_mb=peak_memory_mb, **record)
