"""Memory preflight: the estimate tracks the measured peak; a run that cannot fit is refused."""
import subprocess
import sys

import pytest

import tlcourse
from tlcourse.engine.memory import PreflightError, estimate, preflight

MEASURE = """
import sys, torch, tlcourse
from tlcourse.engine.memory import MB, estimate


def status_mb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def measure_peak(model, batch_size: int, seq_len: int, steps: int = 2) -> float:
    '''Measured peak host memory (MB) of a few AdamW steps, weights included (Linux, CPU only).'''
    ids = torch.randint(0, model.config.vocab_size, (batch_size, seq_len))  # (B, T)
    labels = ids if hasattr(model, "lm_head") else torch.zeros(batch_size, dtype=torch.long)
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / MB
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    base = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark (VmHWM) to the current size
    model.train()
    for _ in range(steps):
        model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return status_mb("VmHWM") - base + weights


model = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
B, T = int(sys.argv[1]), int(sys.argv[2])
print(estimate(model, B, T).total_mb, measure_peak(model, B, T))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the peak")
@pytest.mark.parametrize("batch, length", [(16, 128)])
def test_estimate_is_within_25_percent_of_the_measured_peak(batch, length):
    out = subprocess.run([sys.executable, "-c", MEASURE, str(batch), str(length)],
                         capture_output=True, text=True, check=True).stdout.split()
    estimated, measured = map(float, out[-2:])
    assert abs(estimated - measured) / measured < 0.25, (estimated, measured)


def test_activations_grow_with_batch_and_length():
    model = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
    small, big = estimate(model, 4, 32), estimate(model, 8, 64)
    assert big.activations_mb > 3.5 * small.activations_mb
    assert small.weights_mb == pytest.approx(22_713_984 * 4 / 2**20, rel=0.01)


def test_preflight_refuses_with_a_concrete_fix():
    model = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
    with pytest.raises(PreflightError, match=r"batch_size=\d+ with grad_accum=\d+.*LoRA.*checkpointing"):
        preflight(model, batch_size=64, seq_len=128, limit_mb=600)
    assert preflight(model, batch_size=2, seq_len=16, limit_mb=4000).total_mb < 4000
