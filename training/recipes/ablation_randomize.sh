#!/usr/bin/env bash
# What each family of domain randomization buys (issue 29 item 5), at a short budget: 1.3.0
# (vatex_core/weights/vatex-tiny.safetensors) fine-tuned for STEPS steps on the same 4000 synthetic
# layouts and data order with every family on, each family off in turn, and none (the control:
# more training alone), each run then evaluated on both renderers' val splits (the generator's
# plain val scenes of stage 1 and the independent renderer's, training/independent), plus 1.3.0
# itself as the "start" row. One markdown table: $OUT/table.md (training/ablation_table.py).
#
# Per-frame on purpose: no config here sets temporal.memory_frames (the 1.4.0 model will have 2,
# training/configs/tiny-1.4.0/temporal_4a.yaml), so every run is as cheap as 1.3.0's image stages;
# randomization acts on single frames, so its effect shows without the memory.
#
# Configs: training/configs/tiny-1.4.0/ablation/*.yaml. Run from the repository root with the venv's
# `vatex` and `python` on PATH:
#   STEPS=1500 training/recipes/ablation_randomize.sh
# Environment: STEPS (optimisation steps per run; the lr step stays at 70% of them, default 1500),
# EVAL_ITEMS (expressions per val split, default all), RUNS (configs to train, default all seven),
# OUT (default runs/ablation_randomize), THREADS (OMP_NUM_THREADS, default 2).
# A run whose val.json exists is skipped, so the script resumes after an interruption. Each run first
# draws its 4000 randomized scenes (0.12 s a scene on a busy core of the 2-core machine: ~8 minutes);
# a full val evaluation (4412 + 2074 expressions) ran at ~4.4 expressions/s there: EVAL_ITEMS=1000 keeps
# each run's evaluation near 8 minutes.
set -euo pipefail
STEPS=${STEPS:-1500}
EVAL_ITEMS=${EVAL_ITEMS:-}
RUNS=${RUNS:-"all_on no_size_scale no_backgrounds no_colour_lighting no_camera no_shape all_off"}
OUT=${OUT:-runs/ablation_randomize}
export OMP_NUM_THREADS=${THREADS:-2}
CONFIGS=training/configs/tiny-1.4.0/ablation
VAL_CONFIG=training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml  # the plain val scenes 1.3.0 was chosen on
mkdir -p "$OUT"

evaluate() {  # output folder, then --weights W (none: the embedded 1.3.0)
  local out=$1
  shift
  vatex eval "$@" --config "$VAL_CONFIG" --split val --also independent --calibrate \
    ${EVAL_ITEMS:+--max-items "$EVAL_ITEMS"} --out "$out/val.json"
}

mkdir -p "$OUT/start"
[ -f "$OUT/start/val.json" ] || evaluate "$OUT/start"
for run in $RUNS; do
  [ -f "$OUT/$run/val.json" ] && continue
  vatex train --config "$CONFIGS/$run.yaml" --set max_iters="$STEPS" out_dir="$OUT/$run" > "$OUT/$run.log" 2>&1
  evaluate "$OUT/$run" --weights "$OUT/$run/checkpoints/step_$(printf %08d "$STEPS")/model.safetensors"
done
python -m training.ablation_table "$OUT" start $RUNS > "$OUT/table.md"
cat "$OUT/table.md"
