"""Evaluate VATEX weights on a referring dataset split and report the paper's metrics.

Run commands::

    vatex eval --dataset synthetic --split val                      # the embedded tiny model
    vatex eval --weights runs/refcoco/checkpoints/step_00100000/model.safetensors \\
        --dataset refcoco --root data/refer --split testA --preset paper --out refcoco_testA.json
    vatex eval --weights W --dataset davis --root data/ref-davis --split valid
    vatex eval --weights W --config training/configs/tiny-1.2.0/synthetic_tiny.yaml   # dataset + eval_split of a run
    vatex eval --weights W --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --calibrate --out val.json
    vatex eval --weights W --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split val \
        --calibrate --min-t-acc 98 --confidence 0.95 --out val.json
    vatex eval --weights W --dataset grefcoco --root data --split val --found-threshold 0.7
    vatex eval --weights W --config training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml --split val \
        --also independent --input-size 192     # frames resized to another short side than the weights were trained at
    vatex eval --config training/configs/tiny-1.3.0/synthetic_tiny_notarget.yaml --split test --first-item 3000
    vatex eval --dataset synthetic_motion --split val --max-items 300   # streams vs frame by frame
    vatex eval --dataset independent_motion --split val                 # the same on the independent renderer
    vatex eval --weights W --config training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml --split val \
        --also independent --calibrate --min-t-acc 98 --confidence 0.95 --out val_mixed.json   # both renderers

Inference is the deployed path (``vatex_core.Predictor``): the query with the highest object
probability, mask logit > 0, bilinear upsampling to the input size with the padding cropped,
and the one "found" rule (object probability >= the weights' calibrated threshold, or
``--found-threshold``; an empty mask when not found). Images give mIoU, oIoU, Pr@0.5..0.9 and
Oc-IoU; videos (queries shared over a clip of frames) give J&F, J and F. Ref-DAVIS17 uses the
DAVIS protocol (first and last frame excluded). These are over the target expressions; beside
them, over all expressions, the GRES metrics N-acc, T-acc, gIoU and cIoU (N-acc is NaN when the
split has no no-target expressions). ``--calibrate`` also picks the found threshold on this
split's scores (``training.calibration``) for ``vatex release --calibration``. ``--also KIND ...``
evaluates the same split of more datasets (one row each) and, with ``--calibrate``, picks one
threshold that meets the rule on every one of them (``training.mixed_eval``; docs/model.md,
"A found threshold for both renderers").
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from training.config import DATASET_KINDS, DataConfig, load_config, load_scenes
from training.data import EvalDataset
from training.calibration import calibrate_threshold
from training.metrics import GresMetrics, ReferMetrics, VideoMetrics, mask_iou
from training.stream_eval import evaluate_streams, format_streams
from vatex_core import Predictor, load_vatex
from vatex_core.weights import calibrated_threshold

logger = logging.getLogger(__name__)

HELP = "evaluate VATEX weights on a dataset split (paper table + JSON)"
VIDEO_KINDS = ("ytvos", "davis", "synthetic_video", "synthetic_motion", "independent_motion")
STREAM_KINDS = ("synthetic_motion", "independent_motion")  # motion videos: streams against frame by frame
IMAGE_COLUMNS = ("mIoU", "oIoU", "Pr@0.5", "Pr@0.7", "Pr@0.9", "Oc-IoU")  # paper Tables 1-2 (+ Oc-IoU)
VIDEO_COLUMNS = ("J&F", "J", "F")  # paper Table 3
GRES_COLUMNS = ("N-acc", "T-acc", "gIoU", "cIoU")  # GRES / gRefCOCO (Liu et al., CVPR 2023)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="VATEX .safetensors (default: the embedded tiny model)")
    parser.add_argument("--config", default=None, help="training YAML giving dataset, root and eval_split defaults")
    parser.add_argument("--dataset", choices=DATASET_KINDS, default=None, help="dataset kind (default: from --config)")
    parser.add_argument("--root", default=None, help="dataset folder (real datasets)")
    parser.add_argument("--split", default=None, help="split, e.g. val, testA, valid (default: eval_split / val)")
    parser.add_argument("--preset", default=None, help="expected model preset; other weights are an error")
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    parser.add_argument("--clip-frames", type=int, default=36, help="video frames per forward pass (queries shared)")
    parser.add_argument("--max-items", type=int, default=None,
                        help="evaluate only the first N expressions (from --first-item)")
    parser.add_argument("--first-item", type=int, default=0,
                        help="start at this expression (e.g. past the items that earlier decisions looked at)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers reading the data")
    parser.add_argument("--input-size", type=int, default=None,
                        help="short side (pixels) frames are resized to for the model (default: the size the weights "
                             "were trained at; the node's input_size)")
    parser.add_argument("--found-threshold", type=float, default=None,
                        help="object probability from which a prediction is found "
                             "(default: the weights' calibrated one)")
    parser.add_argument("--calibrate", action="store_true",
                        help="also pick the found threshold on this split (max mean of N-acc and T-acc)")
    parser.add_argument("--min-t-acc", type=float, default=None,
                        help="with --calibrate: instead the highest N-acc that keeps T-acc >= this (percent)")
    parser.add_argument("--confidence", type=float, default=None,
                        help="with --min-t-acc: keep the one-sided lower confidence bound of T-acc at this "
                             "confidence (e.g. 0.95) >= --min-t-acc instead of T-acc itself")
    parser.add_argument("--also", nargs="+", choices=DATASET_KINDS, default=[], metavar="KIND",
                        help="also evaluate these datasets' same split; with --calibrate one threshold meets "
                             "the rule on each of them (e.g. --also independent)")


def run(args: argparse.Namespace) -> int:
    if not args.calibrate and (args.min_t_acc is not None or args.confidence is not None):
        raise SystemExit("--min-t-acc and --confidence choose the calibration rule, so they need --calibrate")
    if args.confidence is not None and args.min_t_acc is None:
        raise SystemExit("--confidence bounds T-acc, so it needs --min-t-acc")
    data = load_config(args.config).data if args.config else DataConfig()
    split = args.split or (data.eval_split if args.config else "val")
    if args.dataset is not None:
        data.kind = args.dataset
    if args.root is not None:
        data.root = args.root
    model = load_vatex(args.weights, args.device)
    if args.preset is not None and model.cfg.name != args.preset:
        raise SystemExit(f"{args.weights or 'the embedded weights'} hold preset {model.cfg.name!r}, "
                         f"not {args.preset!r}")
    threshold = args.found_threshold if args.found_threshold is not None else calibrated_threshold(args.weights)
    if args.input_size is not None and args.input_size < 32:
        raise SystemExit(f"--input-size must be >= 32 pixels, got {args.input_size}")
    predictor = Predictor(model, short_side=args.input_size, found_threshold=threshold)
    if data.kind in STREAM_KINDS and not args.also:  # streams against frame by frame (what time buys)
        return _report_streams(args, data, split, predictor)
    dataset: Dataset = EvalDataset(load_scenes(data, split))
    if args.first_item:
        if not 0 < args.first_item < len(dataset):
            raise SystemExit(f"--first-item {args.first_item} is outside the {len(dataset)} items of {split}")
        dataset = Subset(dataset, range(args.first_item, len(dataset)))
    if args.also:  # several datasets' splits, one row each, and one threshold for all of them
        from training.mixed_eval import run_mixed

        return run_mixed(args, data, split, predictor, dataset)
    scores: list[tuple[float, bool]] = []
    metrics = evaluate(predictor, dataset, data.kind, args.clip_frames, args.max_items, args.num_workers, scores)
    results = {
        "dataset": data.kind, "split": split, "weights": str(args.weights or "embedded"), "preset": model.cfg.name,
        "input_size": predictor.short_side, "first_item": args.first_item,
        "items": min(len(dataset), args.max_items or len(dataset)), "found_threshold": threshold, "metrics": metrics,
    }
    if args.calibrate:
        calibration = calibrate_threshold(np.array([s for s, _ in scores]), np.array([n for _, n in scores]),
                                          args.min_t_acc, args.confidence)
        results["calibration"] = {"dataset": data.kind, "split": split, "items": results["items"],
                                  "input_size": predictor.short_side, **calibration.to_dict()}
    print(format_table(results))
    if args.calibrate:
        print(f"calibrated found threshold {calibration.threshold:.4f}: {calibration.summary()} on {split}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        logger.info("wrote %s", args.out)
    return 0


def _report_streams(args: argparse.Namespace, data: DataConfig, split: str, predictor: Predictor) -> int:
    """``vatex eval`` on motion videos: each expression as a stream and frame by frame (training.stream_eval)."""
    if args.calibrate or args.first_item:
        raise SystemExit("--calibrate and --first-item are for image and clip evaluation, not motion streams")
    results = {"dataset": data.kind, "split": split, "weights": str(args.weights or "embedded"),
               "preset": predictor.model.cfg.name, "input_size": predictor.short_side,
               "found_threshold": predictor.found_threshold,
               "streams": evaluate_streams(predictor, load_scenes(data, split), args.max_items)}
    print(format_streams(results["streams"]))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        logger.info("wrote %s", args.out)
    return 0


@torch.inference_mode()
def evaluate(
    predictor: Predictor,
    dataset: Dataset,
    kind: str,
    clip_frames: int = 36,
    max_items: int | None = None,
    num_workers: int = 0,
    scores: list[tuple[float, bool]] | None = None,
    ious: list[float | None] | None = None,
) -> dict[str, float]:
    """Runs the predictor on every (scene, object, expression) item and accumulates metrics.

    Args:
        predictor: wraps the model under test (and its found threshold).
        dataset: evaluation items as ``EvalDataset`` gives them (or a ``Subset`` of one); untransformed
            frames: the predictor resizes like at deployment.
        kind: dataset kind; video kinds give J&F, the others image metrics.
        clip_frames: frames per forward pass for videos.
        max_items: stop after this many items.
        num_workers: DataLoader workers.
        scores: if given, (score, no_target) of every item is appended (for calibration).
        ious: if given, every item's IoU (its frames' mean; None for an expression naming nothing) is appended
            (for breakdowns of the mIoU).

    Returns:
        The metrics' summary (percent): image or video keys over the target expressions (see
        ``training.metrics``; NaN if there is none), and N-acc, T-acc, gIoU, cIoU over all.
    """
    video = kind in VIDEO_KINDS
    metrics = VideoMetrics(skip_first_last=kind == "davis") if video else ReferMetrics()
    gres = GresMetrics()
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    total = min(len(dataset), max_items or len(dataset))
    for index, item in enumerate(tqdm(loader, total=total, desc="eval", dynamic_ncols=True)):
        if index == total:
            break
        frames = (item["frames"].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()  # (T, H, W, 3)
        text = predictor.encode(item["expression"])
        predictions = [p for start in range(0, len(frames), clip_frames)
                       for p in predictor.predict_clip(list(frames[start : start + clip_frames]), text)]
        pred, gt = np.stack([p.mask for p in predictions]), item["mask"].numpy()  # (T, H, W) bool each
        found = any(p.found for p in predictions)  # one decision per clip chunk; found if any chunk is
        gres.update(pred, gt, found, item["no_target"])
        if scores is not None:
            scores.append((max(p.score for p in predictions), item["no_target"]))
        if ious is not None:
            ious.append(None if item["no_target"] else float(np.mean([mask_iou(p, g) for p, g in zip(pred, gt)])))
        if item["no_target"]:
            continue
        if video:
            metrics.update(pred, gt)
        else:
            for pred_frame, gt_frame in zip(pred, gt):
                metrics.update(pred_frame, gt_frame, object_key=(item["scene_id"], item["object_id"]))
    columns = VIDEO_COLUMNS if video else IMAGE_COLUMNS
    target = metrics.summary() if (metrics.j if video else metrics.ious) else dict.fromkeys(columns, math.nan)
    return {**target, **gres.summary()}


def format_table(results: dict) -> str:
    """The results as a small text table in the paper's column order, the GRES columns beside."""
    metrics = results["metrics"]
    columns = VIDEO_COLUMNS if "J&F" in metrics else IMAGE_COLUMNS
    columns += tuple(c for c in GRES_COLUMNS if c in metrics)
    header = f"{'dataset':<16}{'split':<8}" + "".join(f"{c:>9}" for c in columns)
    row = f"{results['dataset']:<16}{results['split']:<8}" + "".join(f"{metrics[c]:>9.2f}" for c in columns)
    return f"{header}\n{row}"
