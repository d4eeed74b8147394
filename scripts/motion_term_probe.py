#!/usr/bin/env python3
"""How much of each object's displacement a temporal model's motion residual holds on held-out motion videos.

The motion term of training/motion_loss.py, measured without training, for each weights file: 3-frame clips
(frames 1 apart, the whole memory) of the first SCENES val motion videos, their first 96 triplets (288 rows).
Lower is better; a residual of zeros scores what a model that never learnt the term scores.

    .venv/bin/python scripts/motion_term_probe.py WEIGHTS [WEIGHTS ...]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import load_config  # noqa: E402
from training.data import ReferTransform, TripletDataset, collate_triplets  # noqa: E402
from training.motion_loss import clip_motion_loss  # noqa: E402
from training.synthetic import make_motion_scenes  # noqa: E402
from vatex_core import load_vatex  # noqa: E402

CONFIG = "training/configs/tiny-1.4.0/temporal_motion_4c.yaml"
ITEMS, BATCH = 96, 8  # triplets (3 rows each), per forward


def motion_term(weights: str, dataset: TripletDataset) -> tuple[float, float]:
    """(mean motion term over the rows, mean |weight| of the motion encoder's output layer)."""
    model = load_vatex(weights)  # the model the file holds, whatever temporal parts it has
    terms = []
    with torch.no_grad():
        for start in range(0, min(len(dataset), ITEMS), BATCH):
            batch = collate_triplets([dataset[i] for i in range(start, min(start + BATCH, len(dataset)))])
            out = model(batch["frames"], model.encode_text(batch["expressions"]))
            terms.append(clip_motion_loss(out["motion"], batch["masks"], batch["image_sizes"]).item())
    return sum(terms) / len(terms), model.temporal.out.weight.abs().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="temporal model .safetensors files")
    parser.add_argument("--config", default=CONFIG, help="training config: data and augmentation")
    parser.add_argument("--scenes", type=int, default=30, help="val motion videos to draw")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config)
    scenes = make_motion_scenes(cfg.data.synthetic, "val", args.scenes, cfg.data.synthetic_seed)
    dataset = TripletDataset(scenes, ReferTransform(cfg.data.augment), 3, seed=5, window_strides=(1,))
    for weights in args.weights:
        term, weight = motion_term(weights, dataset)
        print(f"{weights}: motion term on val {term:.4f}, output layer mean |weight| {weight:.4f}")


if __name__ == "__main__":
    main()
