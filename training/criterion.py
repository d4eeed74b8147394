"""Training loss of VATEX (paper eq. 8): class + mask (BCE + dice) + MCC.

For every prediction set (the final one and each auxiliary one) queries are matched to the
referred object with the Hungarian matcher; the matched query learns "object" and the mask,
all others learn "no object" (weight 0.1). Mask losses are computed only for matched
queries, on 12,544 points chosen by uncertainty (oversample 3, importance 0.75), as in
Mask2Former. Video masks are (query, frame) images for point selection and one joint mask
of T * P points per query for BCE and dice. The MCC InfoNCE loss uses the sentence features.
The paper calls the class loss "BCE": over the two classes {object, no object} the softmax
cross-entropy used here (the authors' Mask2Former code) is exactly that.

No-target samples (``has_object`` False: the MCC "None" negative, or an expression naming
nothing in the image, as in gRefCOCO) match no query: every query learns "no object", with
class weight ``no_target_weight`` (default: the usual no-object weight), and they add no mask
loss. The MCC term asks no query for a triplet whose anchor is a no-target expression.

The "found" term (``weight_found``, 0 = off, as in the paper) trains the statistic the
found/not-found decision reads: the object probability of the most confident query. It is the
BCE of that query's object log-odds against ``has_object``. The class loss above spreads a
no-target sample's push over every query, and a target sample's over the matched one; the found
term pushes down exactly the query that would be reported in a no-target sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from training.matcher import HungarianMatcher, Match
from training.mcc import mcc_loss
from training.point_sampling import point_sample, uncertain_point_coords


@dataclass
class LossConfig:
    """Loss weights and point-sampling settings (paper §4.1 / supplementary §7.3)."""

    weight_class: float = 2.0  # gamma_cls
    weight_mask: float = 5.0  # gamma_mask, BCE part
    weight_dice: float = 5.0  # gamma_mask, dice part
    weight_mcc: float = 2.0  # gamma_mcc; 0 disables MCC (ablation)
    no_object_weight: float = 0.1  # class weight of "no object" (the unmatched queries of a referring sample)
    # class weight of each query of a no-target sample (there "no object" is the answer, not the
    # set-prediction filler); None = no_object_weight, as in the paper's "None" negatives
    no_target_weight: float | None = None
    weight_found: float = 0.0  # the "found" term (module docstring); 0 = the paper's loss
    # a temporal model's motion term (training.motion_loss, added by train_step); 0 = off, as in the paper
    weight_motion: float = 0.0
    num_points: int = 12544  # points per mask (per frame for video), matcher and losses
    oversample_ratio: float = 3.0  # candidate points per kept point
    importance_ratio: float = 0.75  # share of points picked by uncertainty
    mcc_temperature: float = 0.1


def sigmoid_bce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Mean point BCE per mask, summed over masks, divided by ``num_masks``.

    Args:
        logits: (M, P) logits. targets: (M, P) values in [0, 1]. num_masks: normaliser.
    """
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return loss.mean(1).sum() / num_masks


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Dice loss (+1 smoothing) per mask, summed over masks, divided by ``num_masks``.

    Args:
        logits: (M, P) logits. targets: (M, P) values in [0, 1]. num_masks: normaliser.
    """
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


def found_loss(pred_logits: torch.Tensor, has_object: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the most confident query's object log-odds against ``has_object``.

    Over the two classes the object probability softmax(logits)[0] is sigmoid(logit_object -
    logit_no_object), so this trains the score that ``Prediction.found`` thresholds.

    Args:
        pred_logits: (S, N, 2) logits. has_object: (S,) bool.
    """
    log_odds = (pred_logits[..., 0] - pred_logits[..., 1]).float()  # (S, N)
    return F.binary_cross_entropy_with_logits(log_odds.max(1).values, has_object.to(log_odds.device).float())


class SetCriterion(nn.Module):
    """Computes the weighted VATEX loss for one batch.

    Args:
        cfg: loss weights and sampling settings.
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.matcher = HungarianMatcher(cfg.weight_class, cfg.weight_mask, cfg.weight_dice, cfg.num_points)
        self.weights = {"loss_ce": cfg.weight_class, "loss_mask": cfg.weight_mask, "loss_dice": cfg.weight_dice,
                        "loss_found": cfg.weight_found}

    def forward(
        self, outputs: dict, masks: torch.Tensor, has_object: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Match and compute all losses.

        Args:
            outputs: model output with "pred_logits" (S, N, 2), "pred_masks" (S, N, T, h, w),
                "aux_outputs" (list of dicts with the same two keys) and "sentence_feature"
                (S, C), S = B*3 in triplet order (needed only when the MCC weight is > 0).
            masks: (S, T, H, W) float 0/1 targets, H = 4h (any size works: points are
                sampled in normalised coordinates).
            has_object: (S,) bool, False for no-target samples ("None" negatives, expressions
                naming nothing): every query "no object", no mask loss.

        Returns:
            Unweighted losses "loss_ce", "loss_mask", "loss_dice" (and "loss_found" when its
            weight is > 0) of the final set, the same with
            suffix "_i" for auxiliary set i, "loss_mcc", and "loss": the weighted total.
        """
        num_masks = self._num_masks(has_object)
        prediction_sets = [*outputs.get("aux_outputs", []), outputs]
        losses: dict[str, torch.Tensor] = {}
        total = masks.new_zeros(())
        for i, pred in enumerate(prediction_sets):
            suffix = "" if i == len(prediction_sets) - 1 else f"_{i}"
            matches = self.matcher(pred["pred_logits"], pred["pred_masks"], masks, has_object)
            set_losses = {
                "loss_ce": self.class_loss(pred["pred_logits"], matches, has_object),
                **self.mask_losses(pred["pred_masks"], masks, matches, num_masks),
            }
            if self.cfg.weight_found > 0:
                set_losses["loss_found"] = found_loss(pred["pred_logits"], has_object)
            for name, value in set_losses.items():
                losses[name + suffix] = value
                total = total + self.weights[name] * value
        if self.cfg.weight_mcc > 0:
            losses["loss_mcc"] = mcc_loss(outputs["sentence_feature"], self.cfg.mcc_temperature, has_object)
            total = total + self.cfg.weight_mcc * losses["loss_mcc"]
        losses["loss"] = total
        return losses

    def class_loss(self, pred_logits: torch.Tensor, matches: list[Match], has_object: torch.Tensor) -> torch.Tensor:
        """Weighted CE over {object, no object}: matched queries -> 0, the rest -> 1.

        Weights: 1 for a matched query, ``no_object_weight`` for the other queries of a referring
        sample, ``no_target_weight`` for every query of a no-target sample; the mean is weighted
        (``F.cross_entropy`` with class weights, when the two no-object weights are equal).

        Args:
            pred_logits: (S, N, 2) logits. matches: S (query_idx, target_idx) pairs.
            has_object: (S,) bool.
        """
        device = pred_logits.device
        target_classes = torch.ones(pred_logits.shape[:2], dtype=torch.int64, device=device)  # (S, N)
        for s, (query_idx, _) in enumerate(matches):
            target_classes[s, query_idx.to(device)] = 0
        no_target = self.cfg.no_object_weight if self.cfg.no_target_weight is None else self.cfg.no_target_weight
        weights = torch.where(has_object.to(device)[:, None], self.cfg.no_object_weight, no_target)  # (S, 1)
        weights = torch.where(target_classes == 0, 1.0, weights.expand_as(target_classes).float())  # (S, N)
        nll = F.cross_entropy(pred_logits.float().transpose(1, 2), target_classes, reduction="none")  # (S, N)
        return (weights * nll).sum() / weights.sum()

    def mask_losses(
        self, pred_masks: torch.Tensor, masks: torch.Tensor, matches: list[Match], num_masks: float
    ) -> dict[str, torch.Tensor]:
        """BCE and dice on uncertainty-sampled points for the matched queries.

        Args:
            pred_masks: (S, N, T, h, w) logits. masks: (S, T, H, W) targets.
            matches: S (query_idx, target_idx) pairs. num_masks: loss normaliser.
        """
        samples = torch.cat([torch.full_like(q, s) for s, (q, _) in enumerate(matches)]).to(pred_masks.device)
        queries = torch.cat([q for q, _ in matches]).to(pred_masks.device)  # (M,) one per referred object
        if samples.numel() == 0:  # nothing referred in the batch: keep the graph, add 0
            zero = pred_masks.sum() * 0.0
            return {"loss_mask": zero, "loss_dice": zero}
        src_masks = pred_masks[samples, queries].float()  # (M, T, h, w)
        tgt_masks = masks[samples].float()  # (M, T, H, W)
        num_frames = src_masks.shape[1]
        src_flat = src_masks.flatten(0, 1)[:, None]  # (M*T, 1, h, w): every (query, frame) is an image
        tgt_flat = tgt_masks.flatten(0, 1)[:, None]  # (M*T, 1, H, W)
        with torch.no_grad():
            coords = uncertain_point_coords(
                src_flat, self.cfg.num_points, self.cfg.oversample_ratio, self.cfg.importance_ratio
            )  # (M*T, P, 2)
            point_labels = point_sample(tgt_flat, coords)  # (M*T, 1, P)
        point_logits = point_sample(src_flat, coords)  # (M*T, 1, P)
        point_labels = point_labels.reshape(-1, num_frames * self.cfg.num_points)  # (M, T*P): joint over frames
        point_logits = point_logits.reshape(-1, num_frames * self.cfg.num_points)
        return {
            "loss_mask": sigmoid_bce_loss(point_logits, point_labels, num_masks),
            "loss_dice": dice_loss(point_logits, point_labels, num_masks),
        }

    @staticmethod
    def _num_masks(has_object: torch.Tensor) -> float:
        """Referred objects per process (averaged over DDP ranks), at least 1."""
        count = has_object.sum().float()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(count)
            count = count / dist.get_world_size()
        return max(count.item(), 1.0)
