"""The motion term: a temporal model's motion residual learns each object's displacement since the last frame.

Stage 4a and 4b trained the memory through the mask and class losses only, and its output layer hardly moved
(docs/model.md): the decoder must learn to read a motion residual that does not exist yet, and the
residual gets no steady gradient until the decoder reads it. This term gives the residual a direct target.

For each (clip, expression) row whose memory holds at least one frame, the displacement of the row's object
(the referred one, or for an MCC negative the other object) between the clip's last two frames is its mask
centroid's shift, in short sides of the image, times ``MOTION_SCALE``. The first three channels of the
motion residual (``outputs["motion"]``, stride 8) learn it on the object's pixels of the last frame:
(dx, dy, |d|). Still objects learn zeros: "not moving" is a target too. A row is left out when its object
is missing in either frame or its visible area changed by more than ``max_area_change`` (partly hidden or
partly out of view: its centroid moves without the object). Camera shake moves the masks too, so rows of a
shaken clip learn the displacement in the picture, which is what the frames show.

The term is a smooth L1 averaged over the kept rows' object pixels; 0 when no row is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vatex_core.temporal import MOTION_CHANNELS, MOTION_SCALE


def displacement_targets(
    last: torch.Tensor, previous: torch.Tensor, image_sizes: torch.Tensor, max_area_change: float = 0.3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's object displacement between two frames, and whether the row is kept.

    Args:
        last, previous: (S, H, W) 0/1 masks of the row's object in the last frame and the one before.
        image_sizes: (S, 2) (height, width) of each row's image before padding.
        max_area_change: the largest relative change of visible area a kept row may have.

    Returns:
        (S, 3) targets (dx, dy, speed) in short sides times ``MOTION_SCALE``, and (S,) bool kept.
    """
    height, width = last.shape[-2:]
    ys = torch.arange(height, dtype=torch.float32, device=last.device)
    xs = torch.arange(width, dtype=torch.float32, device=last.device)

    def centroid_and_area(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        masks = (masks > 0.5).float()
        area = masks.sum((-2, -1))  # (S,)
        x = (masks.sum(-2) * xs).sum(-1) / area.clamp(min=1)
        y = (masks.sum(-1) * ys).sum(-1) / area.clamp(min=1)
        return torch.stack([x, y], dim=-1), area  # (S, 2), (S,)

    now, area_now = centroid_and_area(last)
    before, area_before = centroid_and_area(previous)
    short_side = image_sizes.to(now).min(dim=-1).values.clamp(min=1)  # (S,)
    shift = (now - before) / short_side[:, None] * MOTION_SCALE  # (S, 2)
    change = (area_now - area_before).abs() / torch.maximum(area_now, area_before).clamp(min=1)
    kept = (area_now > 0) & (area_before > 0) & (change <= max_area_change)
    return torch.cat([shift, shift.norm(dim=-1, keepdim=True)], dim=-1), kept


def motion_loss(residual: torch.Tensor, last: torch.Tensor, previous: torch.Tensor,
                image_sizes: torch.Tensor) -> torch.Tensor:
    """Smooth L1 between the residual's first channels and the row's object displacement, on its pixels.

    Args:
        residual: (S, C1, h, w) the motion encoder's output (stride 8), C1 >= ``MOTION_CHANNELS``.
        last, previous: (S, H, W) masks of each row's object in the last two frames.
        image_sizes: (S, 2) image sizes before padding.
    """
    targets, kept = displacement_targets(last, previous, image_sizes)
    if not kept.any():
        return residual.sum() * 0.0  # keeps the graph
    where = F.adaptive_avg_pool2d(last[kept, None].float(), residual.shape[-2:]) > 0.5  # (S', 1, h, w)
    predicted = residual[kept, :MOTION_CHANNELS].float()  # (S', 3, h, w)
    wanted = targets[kept][:, :, None, None].expand_as(predicted)
    weight = where.expand_as(predicted).float()
    per_pixel = F.smooth_l1_loss(predicted, wanted, reduction="none", beta=0.1)
    return (per_pixel * weight).sum() / weight.sum().clamp(min=1)


def clip_motion_loss(residual: torch.Tensor, masks: torch.Tensor, image_sizes: list[tuple[int, int]]) -> torch.Tensor:
    """:func:`motion_loss` for a batch of clips: ``masks`` (S, T, H, W) of each row's object over the clip
    (T >= 2), rows grouped clip by clip (``collate_triplets`` order); ``image_sizes`` one (H, W) per clip."""
    sizes = torch.tensor(image_sizes, device=masks.device).repeat_interleave(len(masks) // len(image_sizes), dim=0)
    return motion_loss(residual, masks[:, -1], masks[:, -2], sizes)
