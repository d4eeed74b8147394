#!/usr/bin/env bash
# Reproduces the embedded model (vatex_core/weights/vatex-tiny.safetensors), the README's model table
# and the quality, ablation and no-target tables of docs/model.md on a 2-core CPU. Every step is seeded
# (seed 0 in the configs). Each release's chain, in order: training/configs/tiny-*/README.md.
# Run from the repository root with the venv's `vatex` and `torchrun` on PATH. It took about 19.5 hours
# (stages 3 to 3j: 14.5) with stages 3c and 3d, which have since left it: about 2 hours less without
# them (their 9000 of the 22,000 steps of stages 3 to 3d, which took ~5 hours, and their evaluations).
set -euo pipefail
export OMP_NUM_THREADS=1  # two single-threaded jobs share the 2 cores; oversubscribed threads run 10x slower
mkdir -p runs

# 1. A tiny CLIP, trained contrastively on synthetic crops/phrases and patches/phrases.
vatex pretrain-clip --out runs/clip_tiny --steps 2500 --seed 0

# 2. VATEX-tiny on synthetic referring scenes with MCC: the schedule of synthetic_tiny.yaml
#    (4000 iterations, lr step at 2/3). (The shipped run did 3000 steps, then `--resume` for
#    the rest; resume is exact, so one go gives the same weights.) Beside it, the two
#    ablations on the same schedule, stopped at 1500 steps and compared with the full run's
#    step-1500 checkpoint (copied aside: only the newest checkpoints are kept).
clip=model.clip_checkpoint=runs/clip_tiny/clip.safetensors
vatex train --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --set "$clip" > runs/synthetic_tiny.out 2>&1 &
full=$!
until [ -d runs/synthetic_tiny/checkpoints/step_00001500 ]; do sleep 15; done
cp -r runs/synthetic_tiny/checkpoints/step_00001500 runs/synthetic_tiny_step1500
vatex train --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --max-steps 1500 --out runs/ablation_no_prior \
  --set "$clip" model.overrides.head.use_clip_prior=false
vatex train --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --max-steps 1500 --out runs/ablation_no_mcc \
  --set "$clip" loss.weight_mcc=0
wait "$full"

# 3. Stage 2: 9000 more steps from stage 1's weights on twice the scenes, lr step at 80%.
#    It runs alone, so on both cores. (The shipped run did 500 steps single-threaded beside a
#    trial at 3x the lr, which trained worse, then `--resume`d alone for the rest; float sums in
#    another thread count may differ in the last bits.)
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.2.0/synthetic_tiny_stage2.yaml > runs/synthetic_tiny_stage2.out 2>&1
final=runs/synthetic_tiny_stage2/checkpoints/step_00009000/model.safetensors

# 4. Quality on held-out splits: the test images and the test videos (the first items of each).
eval_test() {  # weights, output json, max items
  vatex eval --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --split test --weights "$1" --out "$2" --max-items "$3"
}
eval_test "$final" runs/synthetic_tiny_stage2/test.json 3000
eval_test runs/synthetic_tiny_step1500/model.safetensors runs/synthetic_tiny/ablation_full.json 1000
eval_test runs/ablation_no_prior/checkpoints/step_00001500/model.safetensors runs/ablation_no_prior/ablation.json 1000
eval_test runs/ablation_no_mcc/checkpoints/step_00001500/model.safetensors runs/ablation_no_mcc/ablation.json 1000
vatex eval --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --dataset synthetic_video --split test \
  --weights "$final" --out runs/synthetic_tiny_stage2/test_video.json --max-items 300

# 5. Ship it: float16 weights + manifest (version, SHA-256, recipe, quality); a copy in runs/ starts stage 3.
vatex release "$final" --version 1.2.0 --quality runs/synthetic_tiny_stage2/test.json
mkdir -p runs/release_1.2.0 && cp vatex_core/weights/vatex-tiny.* runs/release_1.2.0/

# 6. Stage 3 (tried for 1.3.0, NOT shipped: it missed the no-target bar; docs/model.md, "Expressions that
#    name nothing"). 7000 steps fine-tuning 1.2.0 with the image encoder frozen (text encoder, fusion and
#    decoder learn) on scenes that also hold no-target expressions, with the found term in the loss;
#    then stage 3b, 6000 more steps with every encoder training and half the referring triplets taking a
#    no-target negative. Stage 3e starts again from 1.2.0: 4500 steps with 3b's settings from the first
#    step. One process on both cores each. (Stages 3c and 3d, two more cycles after 3b that shipped
#    nothing, left the tree; their configs and steps are in commit d2e534e's recipe: docs/model.md.)
train_notarget() {  # config name
  OMP_NUM_THREADS=2 vatex train --config "training/configs/tiny-1.3.0/$1.yaml" > "runs/$1.out" 2>&1
}
train_notarget synthetic_tiny_notarget
for stage in stage2 single; do
  train_notarget synthetic_tiny_notarget_$stage
done

# 7. The found threshold of each stage's last checkpoint, calibrated on the whole validation split (the
#    highest N-acc that keeps T-acc >= 98), then the held-out test split with it (target and no-target
#    expressions), beside 1.2.0 on the same items.
calibrate_on_val() {  # weights, output json[, confidence: bound T-acc instead (stage 3j)]
  vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split val --weights "$1" \
    --calibrate --min-t-acc 98 ${3:+--confidence "$3"} --out "$2"
}
test_at_val_threshold() {  # weights, val json (from calibrate_on_val), output json
  local threshold
  threshold=$(python -c "import json; print(json.load(open('$2'))['calibration']['threshold'])")
  vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split test --weights "$1" \
    --found-threshold "$threshold" --max-items 3000 --out "$3"
}
eval_notarget() {  # run/checkpoints/step_N[, confidence, as calibrate_on_val]
  local out=runs/${1%%/*}
  calibrate_on_val "runs/$1/model.safetensors" "$out/val.json" "${2:-}"
  test_at_val_threshold "runs/$1/model.safetensors" "$out/val.json" "$out/test_notarget.json"
}
keep_weights() {  # run/checkpoints/step_N (measured by eval_notarget), stage: float16 + manifest in training/weights/
  local out=runs/${1%%/*}
  vatex release "runs/$1/model.safetensors" --out "training/weights/vatex-tiny-notarget-$2.safetensors" \
    --version "1.3.0-dev.$2" --quality "$out/test_notarget.json" --calibration "$out/val.json"
}
for run in synthetic_tiny_notarget/checkpoints/step_00007000 synthetic_tiny_notarget_stage2/checkpoints/step_00006000 \
           synthetic_tiny_notarget_single/checkpoints/step_00004500; do
  eval_notarget "$run"
done
vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split test \
  --weights runs/release_1.2.0/vatex-tiny.safetensors --max-items 3000 --out runs/release_1.2.0/test_notarget.json
# Stage 3e's weights in float16, the start of stage 3f (not the embedded model).
keep_weights synthetic_tiny_notarget_single/checkpoints/step_00004500 3e

# 8. Stages 3f to 3j: five more lr cycles from 3e's float16 weights, each measured as in step 7.
for stage in 3f 3g; do
  train_notarget synthetic_tiny_notarget_$stage
done
eval_notarget synthetic_tiny_notarget_3f/checkpoints/step_00004500
eval_notarget synthetic_tiny_notarget_3g/checkpoints/step_00003500
# Stage 3g's weights in float16, the start of stage 3h (not the embedded model).
keep_weights synthetic_tiny_notarget_3g/checkpoints/step_00003500 3g
train_notarget synthetic_tiny_notarget_3h
eval_notarget synthetic_tiny_notarget_3h/checkpoints/step_00006000
for step in 00003000 00004500 00005000 00005500; do  # 3h's val curve (docs/model.md)
  calibrate_on_val runs/synthetic_tiny_notarget_3h/checkpoints/step_$step/model.safetensors \
    runs/synthetic_tiny_notarget_3h/val_$step.json
done
# Stage 3h's weights in float16, the start of stage 3i (not the embedded model).
keep_weights synthetic_tiny_notarget_3h/checkpoints/step_00006000 3h
train_notarget synthetic_tiny_notarget_3i
eval_notarget synthetic_tiny_notarget_3i/checkpoints/step_00007000
for step in 00005000 00006000 00006500; do  # 3i's val curve (docs/model.md)
  calibrate_on_val runs/synthetic_tiny_notarget_3i/checkpoints/step_$step/model.safetensors \
    runs/synthetic_tiny_notarget_3i/val_$step.json
done
# 3i's best checkpoint on val, on test at its own val threshold (docs/model.md).
test_at_val_threshold runs/synthetic_tiny_notarget_3i/checkpoints/step_00006000/model.safetensors \
  runs/synthetic_tiny_notarget_3i/val_00006000.json runs/synthetic_tiny_notarget_3i/test_notarget_00006000.json
# Stage 3i's weights, kept in the repository as the start of stage 3j (not the embedded model).
keep_weights synthetic_tiny_notarget_3i/checkpoints/step_00007000 3i
# Stage 3j, calibrated so that the 95% lower confidence bound of val T-acc is >= 98 (docs/model.md).
train_notarget synthetic_tiny_notarget_3j
eval_notarget synthetic_tiny_notarget_3j/checkpoints/step_00007000 0.95
for step in 00005000 00006000 00006500; do  # 3j's val curve (docs/model.md; measured after the release)
  calibrate_on_val runs/synthetic_tiny_notarget_3j/checkpoints/step_$step/model.safetensors \
    runs/synthetic_tiny_notarget_3j/val_$step.json 0.95
done

# 9. Where the found decision fails on val (N-acc by kind of no-target expression, T-acc by form and size),
#    for stages 3h and 3i (docs/model.md's table; its stage 3c column came from commit d2e534e's recipe).
for run in synthetic_tiny_notarget_3h/checkpoints/step_00006000 synthetic_tiny_notarget_3i/checkpoints/step_00007000; do
  python -m training.no_target_breakdown --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split val \
    --min-t-acc 98 --weights "runs/$run/model.safetensors"
done

# 10. Ship stage 3j as 1.3.0: the float16 file is calibrated itself on val (its scores differ from the
#     float32 checkpoint's in the last bits), tested at that threshold, then released with both.
stage3j=runs/synthetic_tiny_notarget_3j/checkpoints/step_00007000/model.safetensors
vatex release "$stage3j" --version 1.3.0
mkdir -p runs/release_1.3.0 && cp vatex_core/weights/vatex-tiny.* runs/release_1.3.0/
calibrate_on_val runs/release_1.3.0/vatex-tiny.safetensors runs/release_1.3.0/val.json 0.95
test_at_val_threshold runs/release_1.3.0/vatex-tiny.safetensors runs/release_1.3.0/val.json \
  runs/release_1.3.0/test_notarget_own.json
vatex release "$stage3j" --version 1.3.0 --quality runs/release_1.3.0/test_notarget_own.json \
  --calibration runs/release_1.3.0/val.json
# Where its found decision fails on val, as step 9, at its manifest threshold (docs/model.md's table).
python -m training.no_target_breakdown --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split val \
  --min-t-acc 98 --confidence 0.95 --weights runs/release_1.3.0/vatex-tiny.safetensors
# The rest of the test split, items 3000 on, which no stage decision looked at (docs/model.md).
vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split test --first-item 3000 \
  --out runs/release_1.3.0/test_notarget_unseen.json
# The quality tables (README and docs/model.md) of the shipped file (its found threshold from the manifest).
vatex eval --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --split test --max-items 3000 --out runs/release_1.3.0/test.json
vatex eval --config training/configs/tiny-1.2.0/synthetic_tiny.yaml --dataset synthetic_video --split test --max-items 300 \
  --out runs/release_1.3.0/test_video.json

# 11. Towards 1.4.0 (issues 28 and 29): the temporal memory, trained on image scenes and motion videos drawn with
#     every randomization family (training/configs/tiny-1.4.0/README.md). The run stopped at step 2400 of 2800
#     (session end; `vatex train ... --resume` goes on exactly). Calibrated on both renderers' val splits with
#     the 95% Wilson rule, tested at that threshold, motion val as streams and frame by frame.
# evaluate_temporal WEIGHTS OUT: calibrate on both renderers' val, test images at that threshold, motion val as streams.
evaluate_temporal() {
  local weights=$1 out=$2 threshold
  vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split val --weights "$weights" --calibrate \
    --min-t-acc 98 --confidence 0.95 --also independent --out "$out/val.json"
  threshold=$(python -c "import json; print(json.load(open('$out/val.json'))['calibration']['threshold'])")
  vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split test --weights "$weights" \
    --found-threshold "$threshold" --max-items 3000 --also independent --out "$out/test_notarget.json"
  vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
    --weights "$weights" --found-threshold "$threshold" --out "$out/motion_val.json"
}
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_random_4a.yaml > runs/train_r4a.out 2>&1
r4a=runs/synthetic_tiny_temporal_random_4a/checkpoints/step_00002400/model.safetensors
evaluate_temporal $r4a runs/r4a/s2400
vatex release $r4a --out training/weights/vatex-tiny-temporal-4a-2400.safetensors --version 1.4.0-dev.4a.2400 \
  --quality runs/r4a/s2400/test_notarget.json --calibration runs/r4a/s2400/val.json

# 12. Stage 4b, motion first (issue 28): from step 11's float16 weights, 1000 steps on a mix where motion decides
#     (3000 motion videos, 1500 image scenes, look-alikes 0.8), the memory at its own lr (optim.temporal_lr).
#     Evaluated as step 11 (calibrated on both renderers' val, test images, motion val as streams).
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_motion_4b.yaml > runs/train_4b.out 2>&1
evaluate_temporal runs/synthetic_tiny_temporal_motion_4b/checkpoints/step_00001000/model.safetensors runs/r4b/s1000

# 13. Stage 4c, motion term (issue 28): stage 4b with loss.weight_motion 5 (training/motion_loss.py: the motion
#     residual's first channels learn each object's displacement since the last frame). Read on motion val at
#     4b's threshold first (the memory's effect), then calibrated and tested as step 11 when it beats 4b there.
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_motion_4c.yaml > runs/train_4c.out 2>&1
r4c=runs/synthetic_tiny_temporal_motion_4c/checkpoints/step_00001000/model.safetensors
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights $r4c --found-threshold 0.1871 --out runs/r4c/s1000/motion_val.json

# 14. Stage 4d, per-query motion (issue 28): from step 13's last checkpoint, every decoder query also reads the
#     motion residual's displacement channels under its own mask (model.temporal.query_motion), the motion term
#     at weight 2. Read on motion val at 4b's threshold as step 13, then calibrated and tested as step 11 when it
#     beats 4b there.
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_query_4d.yaml > runs/train_4d.out 2>&1
r4d=runs/synthetic_tiny_temporal_query_4d/checkpoints/step_00001000/model.safetensors
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights $r4d --found-threshold 0.1871 --out runs/r4d/s1000/motion_val.json

# 15. Stage 4e, local correlation (issue 28): from step 14's last checkpoint, the motion encoder also reads the
#     cosine similarity of each stride-4 cell with the past frames' cells up to 4 cells away
#     (model.temporal.correlation_radius), the motion term back at weight 5. Read as step 14.
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_correlation_4e.yaml > runs/train_4e.out 2>&1
r4e=runs/synthetic_tiny_temporal_correlation_4e/checkpoints/step_00001000/model.safetensors
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights $r4e --found-threshold 0.1871 --out runs/r4e/s1000/motion_val.json
python scripts/motion_term_probe.py $r4c $r4d $r4e

# 16. Stage 4f, measured motion (issue 28): from step 15's last checkpoint, the displacement each query reads is
#     measured in the correlation under its mask (model.temporal.measured_motion), 800 steps. Read as step 14;
#     the probe also scores the measurement under the true masks.
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_measured_4f.yaml > runs/train_4f.out 2>&1
r4f=runs/synthetic_tiny_temporal_measured_4f/checkpoints/step_00000800/model.safetensors
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights $r4f --found-threshold 0.1871 --out runs/r4f/s800/motion_val.json
python scripts/motion_term_probe.py $r4e $r4f

# 17. Stage 4g, measured motion from 4c (issue 28): step 13's last checkpoint gets the correlation, the queries'
#     motion and its measurement together, their layers starting at zero; 600 steps. Read as step 16.
OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/temporal_measured_4g.yaml > runs/train_4g.out 2>&1
r4g=runs/synthetic_tiny_temporal_measured_4g/checkpoints/step_00000600/model.safetensors
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights $r4g --found-threshold 0.1871 --out runs/r4g/s600/motion_val.json
python scripts/motion_term_probe.py $r4g

# 18. Stage 4h, the motion logit (issue 28): 4b (step 12's last checkpoint) with the correlation and
#     model.temporal.motion_logit, the rest fixed; the head is fitted on the model's own streams of 80 training
#     motion videos (the last 16 held out to choose the epoch), not in the training loop. Read as step 14.
mkdir -p runs/r4h
python -m training.fit_motion_logit --config training/configs/tiny-1.4.0/temporal_logit_4h.yaml \
  --found-threshold 0.1871 --out runs/r4h/vatex-tiny-4h.safetensors > runs/r4h/fit.log 2>&1
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val --max-items 400 \
  --weights runs/r4h/vatex-tiny-4h.safetensors --found-threshold 0.1871 --out runs/r4h/motion_val.json
python scripts/query_choice_probe.py runs/synthetic_tiny_temporal_motion_4b/checkpoints/step_00001000/model.safetensors \
  runs/r4h/vatex-tiny-4h.safetensors

# 19. Stages 5a-5d (issue 29): 1.3.0 fine-tuned with every randomization family and no-target phrases of several
#     attributes, then three more cycles; each evaluated on both renderers' val splits with one threshold for both.
for stage in 5a 5b 5c 5d; do
  OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/absent_words_$stage.yaml \
    > runs/absent_words_$stage.log 2>&1
done
for run in 5a:700 5b:1500 5c:1200 5d:3500; do
  stage=${run%:*} step=$(printf %08d ${run#*:})
  vatex eval --weights runs/absent_words_$stage/checkpoints/step_$step/model.safetensors \
    --config training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml --split val --also independent --calibrate \
    --out runs/absent_words_$stage/val.json
done

# 20. Stages 6a and 6b (issues 28 and 29): 5c's and 5d's image models with the measuring memory and the motion logit
#     on motion words, fitted on their own streams of 120 training motion videos; read on motion val (as step 14)
#     and on the independent renderer's motion videos.
for stage in 6a 6b; do
  out=runs/motion_logit_$stage
  mkdir -p $out
  python -m training.fit_motion_logit --config training/configs/tiny-1.4.0/motion_logit_$stage.yaml \
    --found-threshold 0.7 --scenes 120 --frames-cache $out/streams --out $out/vatex-tiny-$stage.safetensors \
    > $out/fit.log 2>&1
  vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val \
    --max-items 400 --weights $out/vatex-tiny-$stage.safetensors --found-threshold 0.7 --out $out/motion_val.json
  vatex eval --dataset independent_motion --split val --weights $out/vatex-tiny-$stage.safetensors \
    --found-threshold 0.7 --out $out/indep_motion_val.json
done
#     (6a and 6b fitted the linear logit of the time, commit 8e1ad68; with today's code this step gives the MLP of
#     step 21.)

# 21. Stage 6c: the motion logit as a small MLP (vatex_core.temporal.MotionLogit), fitted on 6b's streams (the same
#     image model and memory: the cache is read, a minute), epoch chosen by held-out frame J; read like step 20, and
#     kept (float16) with 5d's val figures and both-split threshold as the newest temporal stage.
out=runs/motion_logit_6c
mkdir -p $out
python -m training.fit_motion_logit --config training/configs/tiny-1.4.0/motion_logit_6c.yaml \
  --found-threshold 0.7 --scenes 120 --frames-cache runs/motion_logit_6b/streams --out $out/vatex-tiny-6c.safetensors \
  > $out/fit.log 2>&1
vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val \
  --max-items 400 --weights $out/vatex-tiny-6c.safetensors --found-threshold 0.7 --out $out/motion_val.json
vatex eval --dataset independent_motion --split val --weights $out/vatex-tiny-6c.safetensors \
  --found-threshold 0.7 --out $out/indep_motion_val.json
vatex release $out/vatex-tiny-6c.safetensors --out training/weights/vatex-tiny-6c.safetensors \
  --version 1.4.0-dev.6c --quality runs/absent_words_5d/val.json --calibration runs/absent_words_5d/val.json

# Stages from 22 on share two shapes. An image stage: train it, evaluate its last checkpoint on both renderers' val
# splits (the found threshold calibrated on their mix, in the JSON), its found figures threshold by threshold with
# the margin to issue 29's bars (training.threshold_table), and, given the stages it follows, the three
# stages' tables side by side. A motion logit: fitted on an image stage's own streams at a found threshold, read on
# our motion val and on the other renderer's motion videos.
absent_words_stage() {  # stage letter, its last step, then the letters of the stages it is compared with (if any)
  local run=runs/absent_words_$1
  OMP_NUM_THREADS=2 vatex train --config training/configs/tiny-1.4.0/absent_words_$1.yaml > $run.log 2>&1
  vatex eval --weights $run/checkpoints/step_$(printf %08d "$2")/model.safetensors \
    --config training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml --split val --also independent --calibrate \
    --out $run/val.json
  python -m training.threshold_table $run/val.json --bar synthetic:98:95 --bar independent:95:95 > $run/thresholds.md
  if [ $# -gt 2 ]; then
    python -m training.ablation_table runs $(printf 'absent_words_%s ' "${@:3}") absent_words_$1
  fi
}
motion_logit_stage() {  # stage name (6d, ...), found threshold
  local out=runs/motion_logit_$1
  mkdir -p $out
  python -m training.fit_motion_logit --config training/configs/tiny-1.4.0/motion_logit_$1.yaml \
    --found-threshold "$2" --scenes 120 --frames-cache $out/streams --out $out/vatex-tiny-$1.safetensors \
    > $out/fit.log 2>&1
  vatex eval --config training/configs/tiny-1.4.0/temporal_4a.yaml --dataset synthetic_motion --split val \
    --max-items 400 --weights $out/vatex-tiny-$1.safetensors --found-threshold "$2" --out $out/motion_val.json
  vatex eval --dataset independent_motion --split val --weights $out/vatex-tiny-$1.safetensors \
    --found-threshold "$2" --out $out/indep_motion_val.json
}

# 22. Stage 5e (issue 29): 5d with every randomization family at half its chance, 24000 layouts, base lr; evaluated
#     like 5a; then 6d: the MLP motion logit fitted on 5e's own streams and read like step 21; then 5f, the same mix
#     again from 5e on 36000 layouts (the run here stopped 5f at step 4500 for time).
absent_words_stage 5e 6000
motion_logit_stage 6d 0.7
absent_words_stage 5f 4500 5e

# 23. Stage 5g (issue 29): 5f's mix plus randomized stripe and dot patterns, from 5f's step 4500, 4000 steps;
#     evaluated like 5a (the third table of training.ablation_table: T-acc by the target phrase's form); then 6e: the
#     MLP motion logit fitted on 5g's own streams at 5g's both-split threshold.
absent_words_stage 5g 4000 5e 5f
motion_logit_stage 6e 0.8446

# 24. Stage 5h (issue 29): 5g's mix plus shading and shadows, from 5g, 4000 steps; evaluated like 5g.
absent_words_stage 5h 4000 5f 5g

# 25. Stage 5i (issue 29): 5h's mix plus grey levels of black and white objects and smaller objects more often, from
#     5h, 4000 steps; evaluated like 5g (the tables by colour word and by target area show the two changes apart).
absent_words_stage 5i 4000 5g 5h

# 26. Stage 5k (issue 29): 5i's mix at a 160-pixel short side (max 320), from 5i, 4000 steps; evaluated like 5g
#     (at the size stored with the weights). Before it, 5i's weights at 160 without training there (step 25's
#     command with --input-size 160) said the size is the lever for small targets. 5j (5i at half the lr) was
#     started and cut off before its first checkpoint; 5k came first.
absent_words_stage 5k 4000 5h 5i

# 27. Stage 5l (issue 29): 5k at half the lr, from 5k, 3000 steps; evaluated like 5k.
absent_words_stage 5l 3000 5i 5k

# 28. Stage 5m (issue 29): 5l with each colour name's shades widened (half the objects, per-name hue ranges), from
#     5l, 3000 steps; evaluated like 5k. (docs/model.md's figures are step 2500's: the run there was stopped for
#     time, its step-2500 checkpoint evaluated with this eval command; its machine, and the checkpoints of 5f-5m
#     with it, went before it could finish.)
absent_words_stage 5m 3000 5k 5l

# 29. Stage 5n (issue 29): 5m's whole mix in one stage from 6d's float16 file (5e's image model), 5000 steps;
#     evaluated like 5k; its last weights kept in float16 as the start of the next stage.
absent_words_stage 5n 5000 5e
vatex release runs/absent_words_5n/checkpoints/step_00005000/model.safetensors \
  --out training/weights/vatex-tiny-5n.safetensors --version 1.4.0-dev.5n \
  --quality runs/absent_words_5n/val.json --calibration runs/absent_words_5n/val.json
