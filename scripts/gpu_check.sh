#!/usr/bin/env bash
# One GPU, under 5 minutes: the GPU-marked tests, then the Trainer benchmark with MFU and memory.
# Writes results/gpu-check/{pytest.txt,bench_trainer.json}.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/gpu-check
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TLCOURSE_PROFILE=smoke
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'"
.venv/bin/python -m pytest tests/test_gpu.py -m gpu -q 2>&1 | tee "$out/pytest.txt"
.venv/bin/tlcourse bench trainer --gpu --steps 50 --batch-size 32 --max-length 128 \
    --min-ratio 0 --out "$out/bench_trainer.json"
