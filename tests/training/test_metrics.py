"""Metrics against hand-computed values, including empty and all-true masks."""

import math

import numpy as np
import pytest

from training.metrics import ReferMetrics, VideoMetrics, boundary_f_measure, mask_iou, region_similarity, seg2bmap

H, W = 8, 12


def _box(rows, cols, shape=(H, W)):
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


EMPTY = np.zeros((H, W), dtype=bool)
FULL = np.ones((H, W), dtype=bool)
A = _box(slice(0, 2), slice(0, 2))  # 4 px
B = _box(slice(0, 2), slice(1, 3))  # 4 px, overlaps A in 2


def test_mask_iou_cases():
    assert mask_iou(A, B) == pytest.approx(2 / 6)
    assert mask_iou(A, A) == 1.0
    assert mask_iou(EMPTY, EMPTY) == 1.0  # convention: nothing to find, nothing found
    assert mask_iou(EMPTY, A) == 0.0 and mask_iou(A, EMPTY) == 0.0
    assert mask_iou(FULL, FULL) == 1.0
    assert mask_iou(FULL, A) == pytest.approx(4 / 96)
    with pytest.raises(ValueError, match="differ in shape"):
        mask_iou(A, A[:-1])


def test_refer_metrics_hand_computed():
    metrics = ReferMetrics()
    row_gt, row_pred = _box(5, slice(0, 10)), _box(5, slice(0, 7))  # IoU exactly 7/10
    for pred, gt in ((A, B), (A, A), (FULL, A), (EMPTY, EMPTY), (row_pred, row_gt)):
        metrics.update(pred, gt)
    # IoUs: 1/3, 1, 1/24, 1, 0.7; intersections 2+4+4+0+7 = 17; unions 6+4+96+0+10 = 116
    summary = metrics.summary()
    assert summary["mIoU"] == pytest.approx(100 * (1 / 3 + 1 + 1 / 24 + 1 + 0.7) / 5)
    assert summary["oIoU"] == pytest.approx(100 * 17 / 116)
    assert summary["Pr@0.5"] == pytest.approx(60) and summary["Pr@0.6"] == pytest.approx(60)
    assert summary["Pr@0.7"] == pytest.approx(60)  # IoU >= threshold counts
    assert summary["Pr@0.8"] == pytest.approx(40) and summary["Pr@0.9"] == pytest.approx(40)
    assert math.isnan(summary["Oc-IoU"])  # no object keys given


def test_oc_iou_hand_computed():
    metrics = ReferMetrics()
    gt = _box(slice(0, 4), slice(0, 4))  # 16 px
    metrics.update(_box(slice(0, 4), slice(0, 2)), gt, ("img", "a"))  # 8 px inside gt
    metrics.update(_box(slice(0, 4), slice(0, 6)), gt, ("img", "a"))  # 24 px covering gt
    metrics.update(EMPTY, EMPTY, ("img", "b"))
    metrics.update(A, A, ("img", "c"))
    metrics.update(A, A, ("img", "c"))
    # object a: |gt & p1 & p2| = 8, |gt | p1 | p2| = 24 -> 1/3; b: empty -> 1; c: 1
    summary = metrics.summary()
    assert summary["Oc-IoU"] == pytest.approx(100 * (1 / 3 + 1 + 1) / 3)
    # per expression the same predictions give IoUs 0.5, 16/24, 1, 1, 1
    assert summary["mIoU"] == pytest.approx(100 * (0.5 + 16 / 24 + 3) / 5)


def test_metrics_errors():
    with pytest.raises(RuntimeError):
        ReferMetrics().summary()
    with pytest.raises(RuntimeError):
        VideoMetrics().summary()
    metrics = ReferMetrics()
    metrics.update(A, A, "k")
    with pytest.raises(ValueError, match="differs"):
        metrics.update(np.zeros((3, 3), bool), np.zeros((3, 3), bool), "k")


def test_region_similarity_per_frame():
    pred = np.stack([EMPTY, A, A, FULL])
    gt = np.stack([EMPTY, A, EMPTY, FULL])
    np.testing.assert_allclose(region_similarity(pred, gt), [1.0, 1.0, 0.0, 1.0])
    assert region_similarity(A, B) == pytest.approx(1 / 3)


SQUARE = _box(slice(5, 15), slice(5, 15), (20, 20))  # 10 x 10
SHIFTED = _box(slice(5, 15), slice(8, 18), (20, 20))  # moved 3 px right


def test_seg2bmap_square():
    boundary = seg2bmap(SQUARE)
    # row 4 cols 4..14, col 4 rows 5..14, col 14 rows 5..14, row 14 cols 5..13 (DAVIS's one-sided definition)
    assert boundary.sum() == 11 + 10 + 10 + 9
    assert boundary[4, 4:15].all() and boundary[5:15, 4].all() and boundary[5:15, 14].all() and boundary[14, 5:14].all()
    assert seg2bmap(np.ones((5, 5), bool)).sum() == 0  # all-true mask: no boundary


def test_boundary_f_hand_computed():
    # diagonal 28.3 * 0.008 -> radius ceil(0.23) = 1 px. Of the 40 boundary pixels of each mask,
    # 20 lie within 1 px of the other's boundary (top 9, left 3, right 0, bottom 8): P = R = 0.5.
    assert boundary_f_measure(SHIFTED, SQUARE) == pytest.approx(0.5)
    assert boundary_f_measure(SHIFTED, SQUARE, bound_th=1) == pytest.approx(0.5)
    assert boundary_f_measure(SHIFTED, SQUARE, bound_th=3) == pytest.approx(1.0)  # every pixel 3 px from a match
    assert boundary_f_measure(SQUARE, SQUARE) == 1.0


def test_boundary_f_empty_and_full():
    empty, full = np.zeros((20, 20), bool), np.ones((20, 20), bool)
    assert boundary_f_measure(empty, empty) == 1.0
    assert boundary_f_measure(empty, SQUARE) == 0.0 and boundary_f_measure(SQUARE, empty) == 0.0
    assert boundary_f_measure(full, full) == 1.0  # both boundary maps empty
    assert boundary_f_measure(full, SQUARE) == 0.0
    np.testing.assert_allclose(boundary_f_measure(np.stack([empty, SQUARE]), np.stack([empty, SHIFTED])), [1.0, 0.5])


def test_video_metrics_hand_computed():
    empty = np.zeros((20, 20), bool)
    metrics = VideoMetrics()
    metrics.update(np.stack([SQUARE, empty]), np.stack([SQUARE, empty]))  # J = 1, F = 1
    metrics.update(np.stack([SHIFTED, empty]), np.stack([SQUARE, SQUARE]))  # J = (70/130 + 0)/2, F = (0.5 + 0)/2
    j = 100 * (1 + (7 / 13) / 2) / 2
    f = 100 * (1 + 0.25) / 2
    assert metrics.summary() == pytest.approx({"J&F": (j + f) / 2, "J": j, "F": f})


def test_video_metrics_skip_first_last():
    empty = np.zeros((20, 20), bool)
    metrics = VideoMetrics(skip_first_last=True)
    metrics.update(np.stack([empty, SQUARE, empty]), np.stack([SQUARE, SQUARE, SQUARE]))
    assert metrics.summary() == pytest.approx({"J&F": 100.0, "J": 100.0, "F": 100.0})
    with pytest.raises(ValueError, match="at least 3"):
        metrics.update(np.stack([SQUARE]), np.stack([SQUARE]))
