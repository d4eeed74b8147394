#!/usr/bin/env python3
"""Is the object segmented but not chosen? The picked query against the best query, on held-out motion videos.

Each motion expression of the first val motion videos runs as a stream (as ``vatex eval --dataset
synthetic_motion`` runs it). On every frame from the third on (a full memory) where the named object is in
view, the probe reads every decoder query's mask and reports, by motion kind, the mean IoU with the truth of
the query the model picks (the highest object probability, what the node publishes) and of the query whose
mask fits the truth best. A large gap says the look-alikes are segmented and the choice between them fails.

    .venv/bin/python scripts/query_choice_probe.py WEIGHTS [WEIGHTS ...] [--items 120]
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import load_config, load_scenes  # noqa: E402
from training.stream_eval import motion_kind, query_ious  # noqa: E402
from vatex_core import Predictor, load_vatex  # noqa: E402

CONFIG = "training/configs/tiny-1.4.0/temporal_4a.yaml"
FIRST_FULL_FRAME = 2  # the memory holds two frames from here on
STAMP_STEP = 0.1  # seconds between frames, as stream_eval gives them


def probe(weights: str, cfg, items: int, threshold: float) -> dict[str, tuple[float, float, int]]:
    """Motion kind (and "all") -> (mean IoU of the picked query, of the best query, frames)."""
    predictor = Predictor(load_vatex(weights), found_threshold=threshold)  # found frames feed the memory
    scenes = load_scenes(cfg.data, "val")
    rows = [(scene, obj, expression) for scene in scenes for obj in scene.objects if not obj.no_target
            for expression in obj.expressions if motion_kind(expression)]
    ious: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for scene, obj, expression in tqdm(rows[:items], desc=Path(weights).parent.name, dynamic_ncols=True):
        frames, truth = scene.load_frames(), scene.load_mask(obj.object_id)
        session = predictor.stream(expression)
        for t, frame in enumerate(frames):
            session.step(frame, stamp=t * STAMP_STEP)
            if t < FIRST_FULL_FRAME or not truth[t].any():
                continue
            per_query = query_ious(predictor, frame, truth[t])
            picked = per_query[int(torch.argmax(predictor.last_output["scores"][0]))]
            for kind in ("all", motion_kind(expression)):
                ious[kind].append((picked, per_query.max()))
    return {kind: (*np.mean(values, axis=0).tolist(), len(values)) for kind, values in ious.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="temporal model .safetensors files")
    parser.add_argument("--items", type=int, default=120, help="motion expressions to run")
    parser.add_argument("--found-threshold", type=float, default=0.1871, help="as the stream eval (4b's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(CONFIG)
    cfg.data.kind = "synthetic_motion"
    for weights in args.weights:
        for kind, (picked, best, frames) in probe(weights, cfg, args.items, args.found_threshold).items():
            print(f"{weights} {kind:>16}: picked query IoU {picked:.3f}, best query {best:.3f} ({frames} frames)")


if __name__ == "__main__":
    main()
