#!/usr/bin/env python3
"""How much of each object's displacement a temporal model's motion residual holds on held-out motion videos.

The motion term of training/motion_loss.py, measured without training, for each weights file: 3-frame clips
(frames 1 apart, the whole memory) of the first SCENES val motion videos, their first 96 triplets (288 rows).
Lower is better; a residual of zeros scores what a model that never learnt the term scores. For a model with a
local correlation it also scores the displacement ``measured_displacement`` finds under each row's true mask
(what ``temporal.measured_motion`` gives a query that covers its object), as a residual holding it everywhere.

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
from vatex_core.temporal import MOTION_CHANNELS, FrameMemory, measured_displacement  # noqa: E402

CONFIG = "training/configs/tiny-1.4.0/temporal_motion_4c.yaml"
ITEMS, BATCH = 96, 8  # triplets (3 rows each), per forward


def motion_term(weights: str, dataset: TripletDataset) -> tuple[float, float, float | None]:
    """(mean motion term over the rows, mean |weight| of the motion encoder's output layer, the term of the
    displacement measured under the true masks; None without a correlation)."""
    model = load_vatex(weights)  # the model the file holds, whatever temporal parts it has
    if model.temporal is None or model.temporal.out is None:
        raise SystemExit(f"{weights}: the model has no motion encoder (temporal.motion_encoder): no residual to probe")
    terms, measured = [], []
    with torch.no_grad():
        for start in range(0, min(len(dataset), ITEMS), BATCH):
            batch = collate_triplets([dataset[i] for i in range(start, min(start + BATCH, len(dataset)))])
            out = model(batch["frames"], model.encode_text(batch["expressions"]))
            terms.append(clip_motion_loss(out["motion"], batch["masks"], batch["image_sizes"]).item())
            if model.cfg.temporal.correlation_radius:
                measured.append(_measured_term(model, batch, out["motion"].shape))
    measured_term = sum(measured) / len(measured) if measured else None
    return sum(terms) / len(terms), model.temporal.out.weight.abs().mean().item(), measured_term


def _measured_term(model, batch: dict, residual_shape: torch.Size) -> float:
    """The motion term of a residual that holds, everywhere, the displacement measured under each row's true mask."""
    frames, masks = batch["frames"], batch["masks"]  # (B, T, 3, H, W), (S, T, H, W)
    per_clip = len(masks) // len(frames)
    features = model.backbone.encode_clip(frames)[0]  # (B*T, C0, h0, w0)
    features = features.view(*frames.shape[:2], *features.shape[1:]).repeat_interleave(per_clip, dim=0)
    memory = FrameMemory.from_past(features[:, :-1].flip(1), model.cfg.temporal.memory_frames, None)
    _, similarities = model.temporal(features[:, -1], memory)
    true_masks = torch.nn.functional.adaptive_avg_pool2d(masks[:, -1:].float(), features.shape[-2:])
    logits = (true_masks * 2 - 1)[:, None] * 20  # (S, 1, 1, h0, w0): the row's object, as a sure mask
    displacement = measured_displacement(similarities, memory.valid, logits, model.cfg.temporal.correlation_radius)
    residual = torch.zeros(residual_shape)
    residual[:, :MOTION_CHANNELS] = displacement[:, 0, :, None, None]
    return clip_motion_loss(residual, masks, batch["image_sizes"]).item()


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
        term, weight, measured = motion_term(weights, dataset)
        line = f"{weights}: motion term on val {term:.4f}, output layer mean |weight| {weight:.4f}"
        print(line if measured is None else f"{line}; measured under the true masks {measured:.4f}")


if __name__ == "__main__":
    main()
