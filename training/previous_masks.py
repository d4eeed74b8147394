"""Teacher forcing of a temporal model's memory: the previous frame's target mask, as a stream would have it.

At inference frame t's memory holds the model's own mask of frame t-1 (when it was found). In
training it holds the true mask of frame t-1, spoiled the ways a model's mask is: shifted by a
cell, grown or shrunk at its edge, lost altogether (the stream did not find it: the model must
then find the object from the words and the motion alone), or put on another object of the scene
(the stream followed the wrong look-alike: the words and the motion must overrule the memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

TRIPLET = 3  # rows of a triplet: anchor, positive, negative


@dataclass
class PreviousMaskConfig:
    """How the true previous masks are spoiled (chances per (sample, frame))."""

    drop: float = 0.2  # the mask is empty (the stream did not find the object)
    swap: float = 0.1  # the mask is another object's of the scene (the triplet's other row)
    shift: float = 0.5  # the mask moves by one cell (4 pixels) in a random direction
    morph: float = 0.5  # the mask grows or shrinks by one cell at its edge


def previous_masks(masks: torch.Tensor, cfg: PreviousMaskConfig,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The memory's target mask: the true masks of the frame before, spoiled.

    Args:
        masks: (S, H, W) true masks of the frame before the decoded one, S = B*3 rows in triplet
            order, H and W multiples of 4.
        cfg: the spoiling chances.
        generator: random source (None = torch's global one, which checkpoints save).

    Returns:
        (S, H/4, W/4) float 0/1.
    """
    samples = masks.shape[0]
    previous = (F.avg_pool2d(masks[:, None].float(), 4)[:, 0] > 0.5).float()  # (S, h, w)
    rows = torch.arange(samples, device=masks.device)
    partner = rows - rows % TRIPLET + torch.where(rows % TRIPLET < 2, 2, 0)  # anchor/positive <-> negative

    def chance(p: float) -> torch.Tensor:  # (S, 1, 1) bool
        return torch.rand(samples, 1, 1, generator=generator, device=masks.device) < p

    previous = torch.where(chance(cfg.swap), previous[partner], previous)
    moved = torch.stack([torch.roll(previous, step, dims=dim) for dim in (-2, -1) for step in (-1, 1)])  # (4, S, h, w)
    direction = torch.randint(4, (samples,), generator=generator, device=masks.device)
    previous = torch.where(chance(cfg.shift), moved[direction, rows], previous)
    grown = F.max_pool2d(previous[:, None], 3, stride=1, padding=1)[:, 0]
    shrunk = -F.max_pool2d(-previous[:, None], 3, stride=1, padding=1)[:, 0]
    previous = torch.where(chance(cfg.morph), torch.where(chance(0.5), grown, shrunk), previous)
    return torch.where(chance(cfg.drop), torch.zeros_like(previous), previous)
