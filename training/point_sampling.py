"""Point sampling for mask losses (Mask2Former / PointRend style).

Masks are compared at points given in normalised [0, 1] x [0, 1] image coordinates, so a
prediction at H/4 and a target at H are sampled at the same physical places without any
resize. Video masks (T frames) are handled by the callers: the matcher shares one point set
over all frames, the criterion treats every (query, frame) as one image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def point_sample(masks: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample masks at normalised points.

    Args:
        masks: (N, C, H, W) mask logits or targets.
        coords: (N, P, 2) points as (x, y) in [0, 1].

    Returns:
        (N, C, P) sampled values.
    """
    grid = 2.0 * coords.unsqueeze(2) - 1.0  # (N, P, 1, 2) in grid_sample's [-1, 1]
    sampled = F.grid_sample(masks, grid.to(masks.dtype), mode="bilinear", align_corners=False)
    return sampled.squeeze(3)  # (N, C, P, 1) -> (N, C, P)


def uncertain_point_coords(
    logits: torch.Tensor, num_points: int, oversample_ratio: float, importance_ratio: float
) -> torch.Tensor:
    """Pick points where the prediction is least certain, plus uniformly random ones.

    Draws ``oversample_ratio * num_points`` random points, keeps the
    ``importance_ratio * num_points`` with the highest uncertainty ``-|logit|`` and fills up
    with fresh uniform points (Mask2Former's ``get_uncertain_point_coords_with_randomness``).

    Args:
        logits: (N, 1, H, W) mask logits (no gradient needed).
        num_points: P, points per mask.
        oversample_ratio: candidates drawn per kept point (>= 1).
        importance_ratio: share of P chosen by uncertainty, in [0, 1].

    Returns:
        (N, P, 2) coordinates in [0, 1].
    """
    n = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    candidates = torch.rand(n, num_sampled, 2, device=logits.device)
    uncertainty = -point_sample(logits.float(), candidates).abs()[:, 0]  # (N, num_sampled)
    num_uncertain = int(importance_ratio * num_points)
    top = uncertainty.topk(num_uncertain, dim=1).indices  # (N, num_uncertain)
    chosen = torch.gather(candidates, 1, top.unsqueeze(-1).expand(-1, -1, 2))
    num_random = num_points - num_uncertain
    if num_random > 0:
        chosen = torch.cat([chosen, torch.rand(n, num_random, 2, device=logits.device)], dim=1)
    return chosen
