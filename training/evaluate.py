"""Evaluate VATEX weights on a referring dataset split and report the paper's metrics.

Run commands::

    vatex eval --dataset synthetic --split val                      # the embedded tiny model
    vatex eval --weights runs/refcoco/checkpoints/step_00100000/model.safetensors \\
        --dataset refcoco --root data/refer --split testA --preset paper --out refcoco_testA.json
    vatex eval --weights W --dataset davis --root data/ref-davis --split valid
    vatex eval --weights W --config training/configs/synthetic_tiny.yaml   # dataset + eval_split of a run

Inference is the deployed path (``vatex_core.Predictor``): the query with the highest object
probability, mask logit > 0, bilinear upsampling to the input size with the padding cropped.
Images give mIoU, oIoU, Pr@0.5..0.9 and Oc-IoU; videos (queries shared over a clip of frames)
give J&F, J and F. Ref-DAVIS17 uses the DAVIS protocol (first and last frame excluded).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.config import DATASET_KINDS, DataConfig, load_config, load_scenes
from training.data import EvalDataset
from training.metrics import ReferMetrics, VideoMetrics
from vatex_core import Predictor, load_vatex

logger = logging.getLogger(__name__)

HELP = "evaluate VATEX weights on a dataset split (paper table + JSON)"
VIDEO_KINDS = ("ytvos", "davis", "synthetic_video")
IMAGE_COLUMNS = ("mIoU", "oIoU", "Pr@0.5", "Pr@0.7", "Pr@0.9", "Oc-IoU")  # paper Tables 1-2 (+ Oc-IoU)
VIDEO_COLUMNS = ("J&F", "J", "F")  # paper Table 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="VATEX .safetensors (default: the embedded tiny model)")
    parser.add_argument("--config", default=None, help="training YAML giving dataset, root and eval_split defaults")
    parser.add_argument("--dataset", choices=DATASET_KINDS, default=None, help="dataset kind (default: from --config)")
    parser.add_argument("--root", default=None, help="dataset folder (real datasets)")
    parser.add_argument("--split", default=None, help="split, e.g. val, testA, valid (default: eval_split / val)")
    parser.add_argument("--preset", default=None, help="expected model preset; other weights are an error")
    parser.add_argument("--out", default=None, help="write the results here as JSON")
    parser.add_argument("--clip-frames", type=int, default=36, help="video frames per forward pass (queries shared)")
    parser.add_argument("--max-items", type=int, default=None, help="evaluate only the first N expressions")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers reading the data")


def run(args: argparse.Namespace) -> int:
    data = load_config(args.config).data if args.config else DataConfig()
    split = args.split or (data.eval_split if args.config else "val")
    if args.dataset is not None:
        data.kind = args.dataset
    if args.root is not None:
        data.root = args.root
    model = load_vatex(args.weights, args.device)
    if args.preset is not None and model.cfg.name != args.preset:
        raise SystemExit(f"{args.weights or 'the embedded weights'} hold preset {model.cfg.name!r}, not {args.preset!r}")
    dataset = EvalDataset(load_scenes(data, split))
    metrics = evaluate(Predictor(model), dataset, data.kind, args.clip_frames, args.max_items, args.num_workers)
    results = {
        "dataset": data.kind, "split": split, "weights": str(args.weights or "embedded"), "preset": model.cfg.name,
        "items": min(len(dataset), args.max_items or len(dataset)), "metrics": metrics,
    }
    print(format_table(results))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        logger.info("wrote %s", args.out)
    return 0


@torch.inference_mode()
def evaluate(
    predictor: Predictor,
    dataset: EvalDataset,
    kind: str,
    clip_frames: int = 36,
    max_items: int | None = None,
    num_workers: int = 0,
) -> dict[str, float]:
    """Runs the predictor on every (scene, object, expression) item and accumulates metrics.

    Args:
        predictor: wraps the model under test.
        dataset: evaluation items (untransformed frames: the predictor resizes like at deployment).
        kind: dataset kind; video kinds give J&F, the others image metrics.
        clip_frames: frames per forward pass for videos.
        max_items: stop after this many items.
        num_workers: DataLoader workers.

    Returns:
        The metrics' summary (percent): image or video keys, see ``training.metrics``.
    """
    video = kind in VIDEO_KINDS
    metrics = VideoMetrics(skip_first_last=kind == "davis") if video else ReferMetrics()
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    total = min(len(dataset), max_items or len(dataset))
    for index, item in enumerate(tqdm(loader, total=total, desc="eval", dynamic_ncols=True)):
        if index == total:
            break
        frames = (item["frames"].permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()  # (T, H, W, 3)
        text = predictor.encode(item["expression"])
        masks = [p.mask for start in range(0, len(frames), clip_frames)
                 for p in predictor.predict_clip(list(frames[start : start + clip_frames]), text)]
        pred, gt = np.stack(masks), item["mask"].numpy()  # (T, H, W) bool each
        if video:
            metrics.update(pred, gt)
        else:
            for pred_frame, gt_frame in zip(pred, gt):
                metrics.update(pred_frame, gt_frame, object_key=(item["scene_id"], item["object_id"]))
    return metrics.summary()


def format_table(results: dict) -> str:
    """The results as a small text table in the paper's column order."""
    metrics = results["metrics"]
    columns = VIDEO_COLUMNS if "J&F" in metrics else IMAGE_COLUMNS
    header = f"{'dataset':<16}{'split':<8}" + "".join(f"{c:>9}" for c in columns)
    row = f"{results['dataset']:<16}{results['split']:<8}" + "".join(f"{metrics[c]:>9.2f}" for c in columns)
    return f"{header}\n{row}"
