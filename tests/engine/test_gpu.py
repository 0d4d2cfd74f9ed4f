"""GPU checks (run by `make gpu-check` where a GPU exists; skipped elsewhere)."""
import pytest

import tlcourse
from tlcourse.experiments.method_grid import Experiment, run

pytestmark = pytest.mark.gpu


def test_bf16_or_fp16_training_runs_and_reports_mfu(tmp_path):
    from tlcourse.engine.data import tokenize
    from tlcourse.engine.train import TrainConfig, fit
    tok = tlcourse.load_tokenizer("smollm2-135m")
    ds = tlcourse.load_dataset("rotten_tomatoes")["train"].select(range(256))
    enc = tokenize(ds, tok, max_length=128)
    model = tlcourse.load_model("smollm2-135m", task="classification", num_labels=2)
    result = fit(model, enc, None, TrainConfig(max_steps=8, batch_size=32, lr=1e-5,
                                              mixed_precision="auto", progress=False),
                 tokenizer=tok)
    assert result.precision in ("bf16", "fp16")
    assert result.device.startswith("cuda")
    import torch
    from tlcourse.engine.telemetry import PEAK_FLOPS
    known = any(name in torch.cuda.get_device_name() for name in PEAK_FLOPS)
    assert (0 < result.mfu < 1) if known else result.mfu == "unknown"
    assert result.peak_memory_mb > 0


def test_lora_experiment_on_gpu(tmp_path):
    record = run(Experiment("lora", seed=0), out_dir=tmp_path)
    assert record["hardware"]["gpu"] and record["metrics"]["accuracy"] > 0.5
