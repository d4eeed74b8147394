"""``vatex eval --also``: one model on the same split of several datasets, and one found threshold for all.

A model whose threshold is fitted to one renderer's look loses the other's targets (issue 29:
1.3.0 at its threshold 0.686 finds 78.7% of the independent renderer's targets). Calibrating on
the pooled val splits lets the larger, easier split set the threshold, so the rule is applied per
dataset instead (``training.calibration``, ``groups``): every dataset's T-acc (or its Wilson lower
bound) must reach ``--min-t-acc``, or, under the balanced rule, the datasets' balanced accuracies
are averaged with equal weight. Run command::

    vatex eval --weights W --config training/configs/tiny-1.3.0/synthetic_tiny_notarget_3j.yaml --split val \\
        --also independent --calibrate --min-t-acc 98 --confidence 0.95 --out val_mixed.json
    vatex release W --out ... --calibration val_mixed.json          # ships that threshold

Every dataset gets its own row (the first is ``--dataset``/the config's, the others as ``--also``
lists them, read with the same data config, ``--first-item`` and ``--max-items``). The JSON holds
the first dataset's results as a plain ``vatex eval`` does, the others under ``also``, and with
``--calibrate`` each dataset's (score, no_target) per expression under ``scores`` (to re-calibrate
without running the model again) and its IoU per expression under ``ious`` (null for one naming nothing; for
breakdowns of the mIoU, ``training.independent.breakdown``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset, Subset

from training.calibration import calibrate_threshold
from training.config import DataConfig, load_scenes
from training.data import EvalDataset
from training.evaluate import GRES_COLUMNS, IMAGE_COLUMNS, STREAM_KINDS, VIDEO_COLUMNS, evaluate
from vatex_core import Predictor

logger = logging.getLogger(__name__)


def eval_items(data: DataConfig, split: str, first_item: int) -> Dataset:
    """The evaluation items of one split, from ``first_item`` on.

    Raises:
        SystemExit: ``first_item`` outside the split's items.
    """
    dataset: Dataset = EvalDataset(load_scenes(data, split))
    if first_item:
        if not 0 < first_item < len(dataset):
            raise SystemExit(f"--first-item {first_item} is outside the {len(dataset)} items of {data.kind} {split}")
        dataset = Subset(dataset, range(first_item, len(dataset)))
    return dataset


def run_mixed(args: argparse.Namespace, data: DataConfig, split: str, predictor: Predictor, first: Dataset) -> int:
    """Evaluate ``data.kind`` and every ``args.also`` kind on ``split``; with ``args.calibrate``, one
    threshold for all of them (module docstring). ``first`` holds ``data.kind``'s items already."""
    kinds = [data.kind, *args.also]
    if len(set(kinds)) < len(kinds):
        raise SystemExit(f"--also names a dataset twice or the first one again: {kinds}")
    if streamed := [k for k in kinds if k in STREAM_KINDS]:
        raise SystemExit(f"{', '.join(streamed)} are evaluated as streams, on their own: no --also with them")
    rows, scores, ious = {}, {}, {}
    for kind in kinds:
        items = first if kind == data.kind else eval_items(dataclasses.replace(data, kind=kind), split, args.first_item)
        collected: list[tuple[float, bool]] = []
        ious[kind] = []
        metrics = evaluate(predictor, items, kind, args.clip_frames, args.max_items, args.num_workers, collected,
                           ious[kind])
        rows[kind] = {"dataset": kind, "split": split, "items": len(collected), "metrics": metrics}
        scores[kind] = collected
    results = {"dataset": data.kind, "split": split, "weights": str(args.weights or "embedded"),
               "preset": predictor.model.cfg.name, "input_size": predictor.short_side, "first_item": args.first_item,
               "items": rows[data.kind]["items"], "found_threshold": predictor.found_threshold,
               "metrics": rows[data.kind]["metrics"],
               "also": {kind: rows[kind] for kind in args.also}}
    print(format_rows(list(rows.values())))
    if args.calibrate:
        pooled = [(score, no_target, kind) for kind in kinds for score, no_target in scores[kind]]
        calibration = calibrate_threshold(np.array([s for s, _, _ in pooled]), np.array([n for _, n, _ in pooled]),
                                          args.min_t_acc, args.confidence, np.array([k for _, _, k in pooled]))
        results["calibration"] = {"dataset": "+".join(kinds), "split": split, "items": len(pooled),
                                  "input_size": predictor.short_side, **calibration.to_dict()}
        results["scores"] = {kind: [[score, bool(no_target)] for score, no_target in values]
                             for kind, values in scores.items()}
        results["ious"] = ious
        print(f"calibrated found threshold {calibration.threshold:.4f} on {split} of {' + '.join(kinds)}: "
              f"{calibration.summary()}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        logger.info("wrote %s", args.out)
    return 0


def format_rows(rows: list[dict]) -> str:
    """One table row per dataset (``vatex eval``'s columns: image or video ones, then GRES)."""
    metrics = rows[0]["metrics"]
    columns = (VIDEO_COLUMNS if "J&F" in metrics else IMAGE_COLUMNS) + tuple(c for c in GRES_COLUMNS if c in metrics)
    lines = [f"{'dataset':<20}{'split':<8}" + "".join(f"{c:>9}" for c in columns)]
    for row in rows:
        lines.append(f"{row['dataset']:<20}{row['split']:<8}"
                     + "".join(f"{row['metrics'].get(c, float('nan')):>9.2f}" for c in columns))
    return "\n".join(lines)
