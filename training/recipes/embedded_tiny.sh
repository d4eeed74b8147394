#!/usr/bin/env bash
# Reproduces the embedded model (vatex_core/weights/vatex-tiny.safetensors) and the README's
# quality and ablation tables, on a 2-core CPU. Every step is seeded (seed 0 in the configs).
# Run from the repository root with the venv's `vatex` on PATH; takes about two hours.
set -euo pipefail
export OMP_NUM_THREADS=1  # two single-threaded jobs share the 2 cores; oversubscribed threads run 10x slower

# 1. A tiny CLIP, trained contrastively on synthetic crops/phrases and patches/phrases.
vatex pretrain-clip --out runs/clip_tiny --steps 2500 --seed 0

# 2. VATEX-tiny on synthetic referring scenes with MCC (4000 steps), and beside it the two
#    ablations on the same schedule, stopped at 2000 steps (compared with the full run's
#    step-2000 checkpoint).
vatex train --config training/configs/synthetic_tiny.yaml > runs/synthetic_tiny.out 2>&1 &
full=$!
vatex train --config training/configs/synthetic_tiny.yaml --max-steps 2000 --out runs/ablation_no_prior \
  --set model.overrides.head.use_clip_prior=false
vatex train --config training/configs/synthetic_tiny.yaml --max-steps 2000 --out runs/ablation_no_mcc \
  --set loss.weight_mcc=0
wait "$full"

# 3. Quality on the held-out test split (images) and the held-out video split.
for run in synthetic_tiny ablation_no_prior ablation_no_mcc; do
  vatex eval --config training/configs/synthetic_tiny.yaml --split test \
    --weights "runs/$run/checkpoints/step_00002000/model.safetensors" --out "runs/$run/test_step2000.json"
done
vatex eval --config training/configs/synthetic_tiny.yaml --split test \
  --weights runs/synthetic_tiny/checkpoints/step_00004000/model.safetensors --out runs/synthetic_tiny/test.json
vatex eval --dataset synthetic_video --split test \
  --weights runs/synthetic_tiny/checkpoints/step_00004000/model.safetensors --out runs/synthetic_tiny/test_video.json

# 4. Ship it: float16 weights + manifest (version, SHA-256, recipe, quality).
vatex release runs/synthetic_tiny/checkpoints/step_00004000/model.safetensors --version 1.0.0 \
  --quality runs/synthetic_tiny/test.json
