#!/usr/bin/env bash
# On one CUDA GPU, about 10 minutes: every lesson and solution in the smoke profile on the GPU,
# the GPU-marked tests and the device tests, then the benchmarks (tlcourse vs Trainer for MiniLM
# at length 128 and for SmolLM2-135M full fine-tuning in bf16 at length 512, with MFU and peak
# memory; bf16/fp32 ratios). Everything it measures is written under results/gpu/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/gpu
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TLCOURSE_PROFILE=smoke
py=.venv/bin/python
$py -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'"
$py -m pytest tests/test_gpu.py tests/test_devices.py tests/test_precision.py -q 2>&1 | tee "$out/pytest.txt"
$py -m pytest notebooks solutions --nbval-lax --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg -q \
    2>&1 | tee "$out/notebooks.txt"
.venv/bin/tlcourse bench trainer --gpu --steps 50 --batch-size 32 --max-length 128 --min-ratio 0 \
    --out "$out/bench_trainer_minilm.json"
.venv/bin/tlcourse bench trainer --gpu --model smollm2-135m --steps 30 --batch-size 16 --max-length 512 \
    --min-ratio 0 --out "$out/bench_trainer_smollm2_512.json"
$py -c "
import json
for name in ('minilm', 'smollm2_512'):
    r = json.load(open('$out/bench_trainer_' + name + '.json'))
    print(name, r['precision'], {s: [round(m, 3) for m in r[s].get('mfu', [])] for s in ('tlcourse', 'trainer')})
" | tee "$out/mfu.txt"
