"""The training entry point under `accelerate launch` with two CPU processes (gloo)."""
import json
import os
import subprocess
import sys

# last1 trains through the loop (head trains on cached features, outside it); patience off: both
# runs take every step, so they can be compared step for step
CONFIG = '{"method": "last1", "lr": 1e-3, "head_lr": 0.01, "epochs": 4, "patience": 100, "batch_size": %d}'


def train(tmp_path, processes, batch_size):
    cfg = tmp_path / f"p{processes}.json"
    cfg.write_text(CONFIG % batch_size)
    out = tmp_path / f"out{processes}"
    # `--cpu` would start one process; torchrun-style launch + ACCELERATE_USE_CPU gives gloo ranks
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "-m", "tlcourse.tools.cli"] if processes > 1 else \
             [sys.executable, "-m", "tlcourse.tools.cli"]
    env = os.environ | {"TLCOURSE_PROFILE": "smoke", "OMP_NUM_THREADS": "1",
                        "ACCELERATE_USE_CPU": "true"}
    subprocess.run(launch + ["train", str(cfg), "--out", str(out)], check=True, env=env,
                   capture_output=True, text=True, timeout=300)
    (result,) = out.glob("*.json")
    return json.loads(result.read_text())


def test_two_processes_train_and_agree_with_one(tmp_path):
    one = train(tmp_path, 1, batch_size=16)
    two = train(tmp_path, 2, batch_size=8)  # same effective batch: 2 processes x 8
    assert one["steps"] == two["steps"] and two["processes"] == 2
    # Tolerance: the two runs see the same examples per step but draw dropout differently.
    assert abs(one["val_accuracy"] - two["val_accuracy"]) <= 0.1, (one["val_curve"], two["val_curve"])
    assert abs(one["metrics"]["accuracy"] - two["metrics"]["accuracy"]) <= 0.1
