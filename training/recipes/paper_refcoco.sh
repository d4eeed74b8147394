#!/usr/bin/env bash
# The paper preset on RefCOCO, from a fresh clone to a node running the trained weights (docs/train_real_data.md).
# Run from the repository root with the venv's `vatex` and `torchrun` on PATH, on a machine with NPROC GPUs:
#
#   NPROC=2 DATA=data/refer training/recipes/paper_refcoco.sh
#
# Steps: 1 fetch the encoders (once; skipped when their manifest is there), 2 check the data, 3 train with torchrun
# (one process per GPU; global batch 24 as the paper), 4 evaluate val/testA/testB, 5 calibrate the found
# threshold on gRefCOCO val (RefCOCO has no expressions that name nothing; gRefCOCO shares its COCO images),
# 6 release float16 weights + manifest, 7 write the node's parameters and print (RUN_NODE=1: run) the node.
#
# Time and memory per step are ESTIMATES, not measured (no GPU was at hand when this was written): per GPU of the
# A100/H100 class, paper preset, short side 480, 12 clips x 3 expressions per GPU, AMP bf16: about 1 s/step (0.6-1.5)
# and 30-60 GB, so 100k steps on 2 GPUs take about 1-2 days. Measure before committing to it: STEPS=50 (sec_per_step
# in $RUN/metrics.jsonl, torch.cuda memory in scripts/gpu_bench.sh); if memory is short, add
# SET="model.grad_checkpointing=[backbone,cmd,decoder]" (about 30% slower) or more GPUs at the same global batch.
#
# Every setting has a default; the tests run this file on miniature data with the tiny preset
# (tests/training/test_real_route.py): PRESET=tiny STEPS=2 SET="batch_size=2 ...".
set -euo pipefail

PRESET=${PRESET:-paper}        # model preset (paper = Swin-B + CLIP ViT-B/16)
NPROC=${NPROC:-2}              # processes = GPUs on this machine (multi-node: see docs/train_real_data.md)
DATA=${DATA:-data/refer}       # REFER root: refcoco/, grefcoco/ (for calibration), images/train2014/
RUN=${RUN:-runs/refcoco}       # run directory: checkpoints, evaluations, release
STEPS=${STEPS:-}               # stop after this many steps (empty: the config's 100k; the lr schedule is kept)
SET=${SET:-}                   # extra config overrides, e.g. "batch_size=48 num_workers=8"
VERSION=${VERSION:-1.0.0}      # version written into the release manifest
DEVICE=${DEVICE:-cuda}         # device of evaluation and of the node
MIN_T_ACC=${MIN_T_ACC:-95}     # calibration: the highest no-target accuracy that keeps target accuracy >= this
RUN_NODE=${RUN_NODE:-0}        # 1: run the node on DDS at the end (Ctrl-C stops it)
CONFIG=training/configs/refcoco.yaml
ENCODERS=${VATEX_ENCODERS:-$HOME/.cache/vatex/encoders}

# 1. Pretrained encoders, once: Swin-B ImageNet-22k (timm) and CLIP ViT-B/16 (open_clip, OpenAI weights).
if [ -f "$ENCODERS/$PRESET/encoders.json" ]; then
  echo "encoders of $PRESET already in $ENCODERS/$PRESET"
else
  vatex fetch-encoders --preset "$PRESET"
fi

# 2. The data, before a multi-day run: layout, splits, images, counts (warnings when they differ from the papers').
mkdir -p "$RUN"
vatex data check --dataset refcoco --root "$DATA" --json "$RUN/data_check.json" || {
  echo "fix the data first (see above)"; exit 1; }
vatex data check --dataset grefcoco --root "$DATA" || { echo "gRefCOCO is needed to calibrate the found threshold"; exit 1; }

# 3. Training: one process per GPU (NCCL on GPUs, gloo on CPUs); rank 0 logs, shows progress, writes checkpoints.
#    Resume after an interruption: the same command with --resume "$RUN" added.
# shellcheck disable=SC2086  # SET is a list of overrides
torchrun --nproc_per_node "$NPROC" -m training.train --config "$CONFIG" --out "$RUN" ${STEPS:+--max-steps "$STEPS"} \
  --set "data.root=$DATA" "model.preset=$PRESET" $SET
weights="$RUN/checkpoints/$(cat "$RUN/checkpoints/latest")/model.safetensors"

# 4. The paper's table: mIoU / oIoU / Pr@0.5,0.7,0.9 on val, testA, testB.
for split in val testA testB; do
  vatex eval --weights "$weights" --dataset refcoco --root "$DATA" --split "$split" --device "$DEVICE" \
    --preset "$PRESET" --out "$RUN/eval_$split.json"
done

# 5. The found threshold, on gRefCOCO val's target and no-target expressions.
vatex eval --weights "$weights" --dataset grefcoco --root "$DATA" --split val --device "$DEVICE" --calibrate \
  --min-t-acc "$MIN_T_ACC" --out "$RUN/calibration.json"

# 6. Release: float16 safetensors + manifest (version, SHA-256, recipe, val quality, calibrated threshold).
mkdir -p "$RUN/release"
release="$RUN/release/vatex-$PRESET-refcoco.safetensors"
vatex release "$weights" --out "$release" --version "$VERSION" --recipe training/recipes/paper_refcoco.sh \
  --quality "$RUN/eval_val.json" --calibration "$RUN/calibration.json"

# 7. The node with it: a parameters file (the rest keeps config/vatex.yaml's defaults).
params="$RUN/release/vatex_refcoco.yaml"
cat > "$params" <<EOF
/**:
  ros__parameters:
    weights: "$(cd "$(dirname "$release")" && pwd)/$(basename "$release")"
    preset: $PRESET
    device: $DEVICE
    cpu_threads: 0
EOF
echo "node parameters: $params"
echo "  ROS 2: ros2 launch vatex_ros vatex.launch.py params_file:=$params image:=/camera/color/image_raw"
echo "  DDS:   vatex node --params $params --remap image:=/camera/color/image_raw"
if [ "$RUN_NODE" = 1 ]; then
  exec vatex node --params "$params"
fi
