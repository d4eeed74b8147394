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
#   STEPS=700 training/recipes/ablation_randomize.sh      # the table of docs/model.md: 84 minutes here
# Environment: STEPS (optimisation steps per run; the lr step stays at 70% of them, default 1500),
# EVAL_ITEMS (expressions per val split, default all), RUNS (configs to train, default all seven),
# OUT (default runs/ablation_randomize), THREADS (OMP_NUM_THREADS, default 2), SCENE_WORKERS (processes
# drawing the scenes, default 1; the same scenes for any number).
# A run whose val.json exists is skipped, so the script resumes after an interruption. On the idle 2-core
# machine each run draws its 4000 scenes in about a minute, trains at 1.0 to 1.7 steps/s (random image sizes
# are the slow part) and evaluates both full val splits (4412 + 2074 expressions) in about 2 minutes.
set -euo pipefail
STEPS=${STEPS:-1500}
EVAL_ITEMS=${EVAL_ITEMS:-}
RUNS=${RUNS:-"all_on no_size_scale no_backgrounds no_colour_lighting no_camera no_shape all_off"}
OUT=${OUT:-runs/ablation_randomize}
SCENE_WORKERS=${SCENE_WORKERS:-1}
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
  vatex train --config "$CONFIGS/$run.yaml" --set max_iters="$STEPS" out_dir="$OUT/$run" \
    data.scene_workers="$SCENE_WORKERS" > "$OUT/$run.log" 2>&1
  evaluate "$OUT/$run" --weights "$OUT/$run/checkpoints/step_$(printf %08d "$STEPS")/model.safetensors"
done
python -m training.ablation_table "$OUT" start $RUNS > "$OUT/table.md"
cat "$OUT/table.md"
