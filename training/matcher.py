"""Hungarian matching of predicted queries to the referred object (paper §3.4).

A referring expression names one object, so each sample has one target mask (or none, for
the "None" negative of an MCC triplet: then every query is "no object"); the assignment is
solved per sample with scipy's ``linear_sum_assignment`` on an (N queries x 1 target) cost. The cost follows
Mask2Former: ``2 * (-p_obj) + 5 * BCE + 5 * dice``, with the mask terms computed on 12,544
points drawn uniformly at random, the same points for predictions and target. Video masks
(T frames) are matched jointly: the same points are used in every frame and the costs run
over all T * P values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from training.point_sampling import point_sample

# One match per sample: (query indices, target indices), both int64 of equal length (0 or 1).
Match = tuple[torch.Tensor, torch.Tensor]


def pairwise_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy between every prediction and every target.

    Args:
        logits: (..., N, P) mask logits at sampled points.
        targets: (..., M, P) target values in [0, 1] at the same points.

    Returns:
        (..., N, M) cost matrix.
    """
    # BCE(x, t) = softplus(x) - x * t, summed over points for every (prediction, target) pair.
    cost = F.softplus(logits).sum(-1)[..., :, None] - logits @ targets.transpose(-1, -2)  # (..., N, M)
    return cost / logits.shape[-1]


def pairwise_dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss (1 - soft dice, +1 smoothing) between every prediction and every target.

    Args:
        logits: (..., N, P) mask logits at sampled points.
        targets: (..., M, P) target values in [0, 1] at the same points.

    Returns:
        (..., N, M) cost matrix.
    """
    probs = logits.sigmoid()
    numerator = 2 * probs @ targets.transpose(-1, -2)  # (..., N, M)
    denominator = probs.sum(-1)[..., :, None] + targets.sum(-1)[..., None, :]
    return 1 - (numerator + 1) / (denominator + 1)


class HungarianMatcher:
    """Assigns the referred object to one query by minimising the Mask2Former cost.

    Args:
        cost_class: weight of ``-p_obj``.
        cost_mask: weight of the point-sampled BCE.
        cost_dice: weight of the point-sampled dice loss.
        num_points: points sampled per mask (and per frame for video).
    """

    def __init__(
        self, cost_class: float = 2.0, cost_mask: float = 5.0, cost_dice: float = 5.0, num_points: int = 12544
    ) -> None:
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    @torch.no_grad()
    def cost(self, pred_logits: torch.Tensor, pred_masks: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Matching cost of every query against its sample's target.

        Args:
            pred_logits: (S, N, 2) class logits; index 0 = object, 1 = no object.
            pred_masks: (S, N, T, h, w) mask logits (any resolution).
            masks: (S, T, H, W) targets, values 0/1.

        Returns:
            (S, N) cost.
        """
        samples, queries, frames = pred_masks.shape[:3]
        p_obj = pred_logits.float().softmax(-1)[..., 0]  # (S, N)
        coords = torch.rand(samples, self.num_points, 2, device=pred_masks.device)  # shared by preds and target
        # Frames are channels: the same points in every frame, costs over all T * P values.
        pred_points = point_sample(pred_masks.float().flatten(1, 2), coords)  # (S, N*T, P)
        pred_points = pred_points.view(samples, queries, frames * self.num_points)  # (S, N, T*P)
        tgt_points = point_sample(masks.float(), coords).view(samples, 1, frames * self.num_points)  # (S, 1, T*P)
        cost = (
            self.cost_mask * pairwise_bce(pred_points, tgt_points)
            + self.cost_dice * pairwise_dice(pred_points, tgt_points)
        )[..., 0]  # (S, N)
        return cost - self.cost_class * p_obj

    def __call__(
        self, pred_logits: torch.Tensor, pred_masks: torch.Tensor, masks: torch.Tensor, has_object: torch.Tensor
    ) -> list[Match]:
        """Match one prediction set to its targets.

        Args:
            pred_logits: (S, N, 2) class logits; index 0 = object, 1 = no object.
            pred_masks: (S, N, T, h, w) mask logits (any resolution).
            masks: (S, T, H, W) targets, values 0/1, one per expression.
            has_object: (S,) bool; False where nothing is referred (the "None" negative):
                no match, every query learns "no object".

        Returns:
            S pairs (query_idx, target_idx) of int64 CPU tensors with 1 entry (0 if no object).
        """
        cost = self.cost(pred_logits, pred_masks, masks).cpu().numpy()  # (S, N)
        empty = torch.empty(0, dtype=torch.int64)
        matches = []
        for sample_cost, present in zip(cost, has_object.tolist()):
            if not present:
                matches.append((empty, empty))
                continue
            rows, cols = linear_sum_assignment(sample_cost[:, None])  # one target: the argmin, via scipy
            matches.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return matches
