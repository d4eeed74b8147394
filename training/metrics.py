"""Referring-segmentation metrics: mIoU, oIoU, Pr@X, Oc-IoU (images), J, F, J&F (video), and the
generalized (GRES, gRefCOCO) metrics N-acc, T-acc, gIoU, cIoU over target and no-target expressions.

Conventions (documented because papers differ on the edge cases):
- IoU of two empty masks is 1.0 (nothing to find, nothing predicted), as in DAVIS's J.
- Pr@X counts samples with IoU >= X (LAVT's evaluation code).
- Every ``summary()`` value is in percent, like the paper tables.
- GRES (Liu et al., CVPR 2023): an expression is predicted empty when the prediction is not
  "found"; N-acc = no-target expressions predicted empty / all no-target expressions, T-acc =
  target expressions predicted found / all target expressions, gIoU = mean per-expression IoU
  (a no-target expression scores 1 if predicted empty, else 0), cIoU = cumulative intersection
  / cumulative union over all expressions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
from scipy import ndimage

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def mask_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks of the same shape; 1.0 when both are empty."""
    pred, gt = _check_pair(pred, gt)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    return pred, gt


class ReferMetrics:
    """Accumulates image referring-segmentation metrics over a dataset."""

    def __init__(self) -> None:
        self.ious: list[float] = []
        self.intersection = 0  # cumulative over samples, for oIoU
        self.union = 0
        # object key -> [GT & P1 & ... & PK, GT | P1 | ... | PK] for Oc-IoU (supplementary eq. 9)
        self.objects: dict[Hashable, list[np.ndarray]] = {}

    def update(self, pred: np.ndarray, gt: np.ndarray, object_key: Hashable | None = None) -> None:
        """Add one (expression, prediction) sample.

        Args:
            pred: (H, W) bool prediction.
            gt: (H, W) bool ground truth.
            object_key: identifies the referred object (e.g. (scene_id, object_id)); samples
                with the same key are the K expressions of one object for Oc-IoU.
        """
        pred, gt = _check_pair(pred, gt)
        inter, union = int(np.logical_and(pred, gt).sum()), int(np.logical_or(pred, gt).sum())
        self.ious.append(1.0 if union == 0 else inter / union)
        self.intersection += inter
        self.union += union
        if object_key is None:
            return
        if object_key not in self.objects:
            self.objects[object_key] = [gt & pred, gt | pred]
            return
        both, either = self.objects[object_key]
        if both.shape != gt.shape:
            raise ValueError(f"object {object_key!r}: mask shape {gt.shape} differs from earlier {both.shape}")
        both &= pred & gt
        either |= pred | gt

    def summary(self) -> dict[str, float]:
        """Return {"mIoU", "oIoU", "Pr@0.5", ..., "Pr@0.9", "Oc-IoU"} in percent.

        oIoU = cumulative intersection / cumulative union. Oc-IoU (supplementary eq. 9-10) =
        mean over objects of |GT & P1 & ... & PK| / |GT | P1 | ... | PK|; NaN if no sample had an
        object key. Raises RuntimeError before any update.
        """
        if not self.ious:
            raise RuntimeError("ReferMetrics.summary() called before any update()")
        ious = np.asarray(self.ious)
        result = {"mIoU": 100 * float(ious.mean()),
                  "oIoU": 100.0 if self.union == 0 else 100 * self.intersection / self.union}
        for threshold in PRECISION_THRESHOLDS:
            result[f"Pr@{threshold}"] = 100 * float((ious >= threshold).mean())
        oc = [1.0 if either.sum() == 0 else both.sum() / either.sum() for both, either in self.objects.values()]
        result["Oc-IoU"] = 100 * float(np.mean(oc)) if oc else math.nan
        return result


class GresMetrics:
    """Accumulates N-acc, T-acc, gIoU and cIoU over target and no-target expressions."""

    def __init__(self) -> None:
        self.ious: list[float] = []
        self.intersection = 0
        self.union = 0
        self.no_target_empty: list[bool] = []  # per no-target expression: predicted empty
        self.target_found: list[bool] = []  # per target expression: predicted found

    def update(self, pred: np.ndarray, gt: np.ndarray, found: bool, no_target: bool) -> None:
        """Add one expression.

        Args:
            pred: (H, W) or (T, H, W) bool prediction (empty when not found).
            gt: same shape, bool ground truth (empty for a no-target expression).
            found: the prediction's decision that the named object is there.
            no_target: the expression names nothing in the image.
        """
        pred, gt = _check_pair(pred, gt)
        if no_target and gt.any():
            raise ValueError("a no-target expression has a non-empty ground-truth mask")
        pred = pred if found else np.zeros_like(pred)
        inter, union = int(np.logical_and(pred, gt).sum()), int(np.logical_or(pred, gt).sum())
        self.ious.append(1.0 if union == 0 else inter / union)
        self.intersection += inter
        self.union += union
        if no_target:
            self.no_target_empty.append(not found)
        else:
            self.target_found.append(found)

    def summary(self) -> dict[str, float]:
        """Return {"N-acc", "T-acc", "gIoU", "cIoU"} in percent (N-acc / T-acc NaN without such expressions)."""
        if not self.ious:
            raise RuntimeError("GresMetrics.summary() called before any update()")
        return {
            "N-acc": 100 * float(np.mean(self.no_target_empty)) if self.no_target_empty else math.nan,
            "T-acc": 100 * float(np.mean(self.target_found)) if self.target_found else math.nan,
            "gIoU": 100 * float(np.mean(self.ious)),
            "cIoU": 100.0 if self.union == 0 else 100 * self.intersection / self.union,
        }


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float | np.ndarray:
    """DAVIS J: IoU per frame, 1 where both masks are empty.

    Args:
        pred, gt: (H, W) or (T, H, W) bool.

    Returns:
        float for (H, W) inputs, (T,) array for (T, H, W).
    """
    pred, gt = _check_pair(pred, gt)
    inter = np.logical_and(pred, gt).sum(axis=(-2, -1))
    union = np.logical_or(pred, gt).sum(axis=(-2, -1))
    j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return float(j) if j.ndim == 0 else j


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a (H, W) mask, as in the DAVIS toolkit.

    A pixel is boundary if it differs from its east, south or south-east neighbour (the last
    row/column compare with east/south only; the bottom-right corner is never boundary).
    """
    seg = np.asarray(mask, dtype=bool)
    east, south, south_east = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    boundary = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    boundary[-1, :] = seg[-1, :] ^ east[-1, :]
    boundary[:, -1] = seg[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def _disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) bool disk x^2 + y^2 <= r^2 (skimage.morphology.disk)."""
    y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return x * x + y * y <= radius * radius


def _frame_f(pred: np.ndarray, gt: np.ndarray, bound_th: float) -> float:
    radius = int(bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*pred.shape)))
    pred_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    n_pred, n_gt = int(pred_b.sum()), int(gt_b.sum())
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    disk = _disk(radius)
    precision = (pred_b & ndimage.binary_dilation(gt_b, structure=disk)).sum() / n_pred
    recall = (gt_b & ndimage.binary_dilation(pred_b, structure=disk)).sum() / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float | np.ndarray:
    """DAVIS F: boundary precision/recall F-measure per frame.

    Boundaries from :func:`seg2bmap`; a boundary pixel matches if the other boundary lies within
    ``ceil(bound_th * image diagonal)`` pixels (``bound_th`` >= 1 is taken as pixels), i.e. inside
    its dilation by a disk of that radius. Both boundaries empty -> 1, exactly one empty -> 0
    (note an all-true mask has an empty boundary map, as in the DAVIS toolkit).

    Args:
        pred, gt: (H, W) or (T, H, W) bool.

    Returns:
        float for (H, W) inputs, (T,) array for (T, H, W).
    """
    pred, gt = _check_pair(pred, gt)
    if pred.ndim == 2:
        return _frame_f(pred, gt, bound_th)
    return np.array([_frame_f(p, g, bound_th) for p, g in zip(pred, gt)])


class VideoMetrics:
    """Accumulates J, F and J&F over (video, object) sequences."""

    def __init__(self, bound_th: float = 0.008, skip_first_last: bool = False) -> None:
        """Args:
            bound_th: boundary tolerance of F (fraction of the image diagonal).
            skip_first_last: drop the first and last frame of each sequence, as the DAVIS
                semi-supervised evaluation (used for Ref-DAVIS17) does.
        """
        self.bound_th = bound_th
        self.skip_first_last = skip_first_last
        self.j: list[float] = []
        self.f: list[float] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Add one sequence: ``pred``, ``gt`` (T, H, W) bool."""
        pred, gt = _check_pair(pred, gt)
        if pred.ndim != 3:
            raise ValueError(f"expected (T, H, W) masks, got {pred.shape}")
        if self.skip_first_last:
            if pred.shape[0] < 3:
                raise ValueError(f"skip_first_last needs at least 3 frames, got {pred.shape[0]}")
            pred, gt = pred[1:-1], gt[1:-1]
        self.j.append(float(np.mean(region_similarity(pred, gt))))
        self.f.append(float(np.mean(boundary_f_measure(pred, gt, self.bound_th))))

    def summary(self) -> dict[str, float]:
        """Return {"J&F", "J", "F"} in percent: means over sequences of per-sequence frame means."""
        if not self.j:
            raise RuntimeError("VideoMetrics.summary() called before any update()")
        j, f = 100 * float(np.mean(self.j)), 100 * float(np.mean(self.f))
        return {"J&F": (j + f) / 2, "J": j, "F": f}
