#!/usr/bin/env bash
# The GPU measurement of issue 12 in one run (aim: under 8 minutes on an H100/H200). Random weights
# (timing only). Prints the table the issue's "Done means" asks for and writes runs/gpu_bench/*.json.
#
#   scripts/gpu_wheels.sh                     # once, on a machine with the package registry
#   scripts/gpu_bench.sh                      # on the GPU machine (PyTorch, timm, numpy; wheels from gpu_wheels/)
#   DEVICE=cpu PRESETS=tiny SIZE=96x64 CALLS=2 WARMUP=1 TRAIN_BATCH=1 COMPILE=0 scripts/gpu_bench.sh  # CPU check
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
PRESETS=${PRESETS:-paper tiny}
SIZE=${SIZE:-640x480}           # camera frames; the paper preset runs them at 480x640
CALLS=${CALLS:-30}
WARMUP=${WARMUP:-5}
TRAIN_BATCH=${TRAIN_BATCH:-24}  # the paper recipe's batch, on one GPU
COMPILE=${COMPILE:-1}
OUT=${OUT:-runs/gpu_bench}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

if ! "$PYTHON" -c "import open_clip" 2>/dev/null; then
  [ -d gpu_wheels ] || { echo "open_clip is missing and gpu_wheels/ is absent: run scripts/gpu_wheels.sh" >&2; exit 1; }
  "$PYTHON" -m pip install --no-index --find-links gpu_wheels open-clip-torch ftfy wcwidth regex
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, '| device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"

bench() {  # preset, name, extra options
  local preset=$1 name=$2
  shift 2
  "$PYTHON" -m vatex_ros.cli bench --model-only --preset "$preset" --device "$DEVICE" --size "$SIZE" \
    --calls "$CALLS" --warmup "$WARMUP" --out "$OUT/$name.json" "$@"
}
for preset in $PRESETS; do
  train=()
  [ "$preset" = paper ] || [ "$PRESETS" = tiny ] && train=(--train-batch "$TRAIN_BATCH" --train-steps 3)
  bench "$preset" "$preset" --precision fp32,bf16 --streams 1,2,4,8 "${train[@]}"
  [ "$COMPILE" = 1 ] && bench "$preset" "${preset}_compiled" --precision bf16 --streams 1 --compile
done

"$PYTHON" - "$OUT" $PRESETS <<'PY'
"""The issue's "Done means" table from the JSON files of this run."""
import json
import sys
from pathlib import Path

out, presets = Path(sys.argv[1]), sys.argv[2:]
print("\nissue 12, Done means (batch 1 unless said; FPS = frames per second; random weights)")
print(f"{'preset':<8}{'measurement':<34}{'ms':>9}{'FPS':>9}  target")
for preset in presets:
    result = json.loads((out / f"{preset}.json").read_text())
    rows = {(r["precision"], r["compiled"], r["streams"]): r for r in result["rows"]}
    compiled_file = out / f"{preset}_compiled.json"
    if compiled_file.is_file():
        rows.update({(r["precision"], r["compiled"], r["streams"]): r
                     for r in json.loads(compiled_file.read_text())["rows"] if r["compiled"]})
    target = {"paper": ">= 60 FPS bf16", "tiny": ">= 200 FPS"}[preset]
    for key, label in [(("fp32", False, 1), "fp32"), (("bf16", False, 1), "bf16"),
                       (("bf16", True, 1), "bf16 + torch.compile"), (("bf16", False, 4), "bf16, 4 streams batched")]:
        if key in rows:
            row = rows[key]
            note = f"compile {row['compile_s']:.0f} s" if row["compiled"] else ""
            print(f"{preset:<8}{label:<34}{row['p50']:>9.2f}{row['fps']:>9.1f}  {note or target}")
    fp32, bf16, four = rows[("fp32", False, 1)], rows[("bf16", False, 1)], rows.get(("bf16", False, 4))
    print(f"{preset:<8}bf16 / fp32 FPS: {bf16['fps'] / fp32['fps']:.2f} (target >= 1)"
          + (f"; 4 streams / 1 stream FPS: {four['fps'] / bf16['fps']:.2f} (target >= 3)" if four else ""))
    stages = result["stages_ms"]["bf16"]
    print(f"{preset:<8}bf16 stages (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()
                                                     if k != "heads_to_backbones")
          + f"; heads / backbones {stages['heads_to_backbones']:.2f}")
    for run in result["train"]:
        peak = "n/a" if run["peak_mib"] is None else f"{run['peak_mib'] / 1024:.1f} GiB"
        print(f"{preset:<8}train batch {run['batch']} ({run['autocast'] or 'fp32'}), checkpointing "
              f"{'+'.join(run['checkpointing']) or 'off'}: {run['s_per_step']:.3f} s/step, peak {peak}")
PY
