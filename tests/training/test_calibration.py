"""The found-threshold calibration rule and the GRES metrics."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from training.calibration import calibrate_threshold, wilson_lower_bound
from training.metrics import GresMetrics


def test_separable_scores_give_a_threshold_in_the_middle_of_the_gap():
    scores = np.array([0.05, 0.2, 0.3, 0.7, 0.9, 0.95])
    no_target = np.array([True, True, True, False, False, False])
    calibration = calibrate_threshold(scores, no_target)
    assert calibration.threshold == pytest.approx(0.5)
    assert (calibration.n_acc, calibration.t_acc) == (100.0, 100.0)
    assert (calibration.no_target_items, calibration.target_items) == (3, 3)


def test_overlapping_scores_maximise_the_mean_of_n_acc_and_t_acc():
    # One no-target expression scores 0.8 among the targets: no threshold gets everything right.
    scores = np.array([0.1, 0.2, 0.8, 0.6, 0.85, 0.9, 0.95])
    no_target = np.array([True, True, True, False, False, False, False])
    calibration = calibrate_threshold(scores, no_target)
    found = scores >= calibration.threshold
    n_acc, t_acc = 100 * (~found[no_target]).mean(), 100 * found[~no_target].mean()
    assert (calibration.n_acc, calibration.t_acc) == pytest.approx((n_acc, t_acc))
    best = max((100 * (~(scores >= t)[no_target]).mean() + 100 * (scores >= t)[~no_target].mean()) / 2
               for t in np.linspace(0, 1, 1001))
    assert (n_acc + t_acc) / 2 == pytest.approx(best)


def test_calibration_needs_both_kinds():
    with pytest.raises(ValueError, match="both target and no-target"):
        calibrate_threshold(np.array([0.2, 0.9]), np.array([False, False]))


def test_gres_metrics_count_empty_predictions_of_no_target_expressions():
    metrics = GresMetrics()
    gt = np.zeros((4, 4), bool)
    gt[:2, :2] = True  # 4 pixels
    pred = np.zeros((4, 4), bool)
    pred[:2, :3] = True  # 6 pixels, 4 right
    metrics.update(pred, gt, found=True, no_target=False)  # IoU 4/6
    metrics.update(pred, gt, found=False, no_target=False)  # not found: empty, IoU 0
    metrics.update(pred, np.zeros((4, 4), bool), found=False, no_target=True)  # right: IoU 1
    metrics.update(pred, np.zeros((4, 4), bool), found=True, no_target=True)  # wrong: IoU 0
    summary = metrics.summary()
    assert summary["N-acc"] == 50.0 and summary["T-acc"] == 50.0
    assert summary["gIoU"] == pytest.approx(100 * (4 / 6 + 0 + 1 + 0) / 4)
    assert summary["cIoU"] == pytest.approx(100 * 4 / (6 + 4 + 0 + 6))
    only_targets = GresMetrics()
    only_targets.update(pred, gt, found=True, no_target=False)
    assert math.isnan(only_targets.summary()["N-acc"])
    with pytest.raises(ValueError, match="no-target expression has a non-empty"):
        metrics.update(pred, gt, found=False, no_target=True)


def test_constrained_rule_keeps_t_acc_and_maximises_n_acc():
    scores = np.array([0.1, 0.2, 0.8, 0.6, 0.85, 0.9, 0.95])
    no_target = np.array([True, True, True, False, False, False, False])
    calibration = calibrate_threshold(scores, no_target, min_t_acc=100.0)
    assert calibration.t_acc == 100.0 and calibration.n_acc == pytest.approx(200 / 3)
    assert 0.2 < calibration.threshold <= 0.6 and "T-acc >= 100.0%" in calibration.rule
    loose = calibrate_threshold(scores, no_target, min_t_acc=75.0)  # may lose one of four targets
    assert loose.t_acc == 75.0 and loose.n_acc == 100.0


def test_wilson_lower_bound_solves_the_score_interval_equation():
    # The Wilson bound p is the root below the observed rate r of (r - p)^2 = z^2 p (1 - p) / n.
    z = NormalDist().inv_cdf(0.95)
    for successes, trials in [(98, 100), (3234, 3300), (5, 5)]:
        p = float(wilson_lower_bound(np.array(successes), trials, 0.95))
        rate = successes / trials
        assert p < rate
        assert (rate - p) ** 2 == pytest.approx(z * z * p * (1 - p) / trials, rel=1e-9)


def test_confident_rule_keeps_the_lower_bound_of_t_acc_and_is_stricter():
    # 400 targets, 400 no-target expressions; the scores overlap, so T-acc trades against N-acc.
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.beta(2, 5, 400), rng.beta(5, 2, 400)])
    no_target = np.arange(800) < 400
    plain = calibrate_threshold(scores, no_target, min_t_acc=95.0)
    confident = calibrate_threshold(scores, no_target, min_t_acc=95.0, confidence=0.95)
    assert confident.threshold < plain.threshold and confident.t_acc > plain.t_acc and confident.n_acc < plain.n_acc
    assert confident.t_acc_lower_bound >= 95.0 and plain.t_acc_lower_bound is None
    assert "Wilson lower bound" in confident.rule and "0.95" in confident.rule
    # The next-higher score among the targets would lose one more target and break the bound.
    targets_found = int((scores[~no_target] >= confident.threshold).sum())
    assert 100 * wilson_lower_bound(np.array(targets_found - 1), 400, 0.95) < 95.0


def test_confident_rule_errors_are_clear():
    scores, no_target = np.array([0.1, 0.9, 0.95]), np.array([True, False, False])
    with pytest.raises(ValueError, match="needs min_t_acc"):
        calibrate_threshold(scores, no_target, confidence=0.95)
    with pytest.raises(ValueError, match="not even finding every target"):  # two targets bound T-acc at ~42%
        calibrate_threshold(scores, no_target, min_t_acc=98.0, confidence=0.95)
    with pytest.raises(ValueError, match="confidence must be"):
        wilson_lower_bound(np.array(2), 2, 1.0)


def _shifted_renderers(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A large well-separated split and a small one whose targets score lower (a renderer shift)."""
    rng = np.random.default_rng(seed)
    own = (np.concatenate([rng.uniform(0.6, 1.0, 900), rng.uniform(0.0, 0.4, 300)]),
           np.repeat([False, True], [900, 300]))
    other = (np.concatenate([rng.uniform(0.25, 1.0, 300), rng.uniform(0.0, 0.5, 100)]),
             np.repeat([False, True], [300, 100]))
    groups = np.repeat(["synthetic", "independent"], [1200, 400])
    return np.concatenate([own[0], other[0]]), np.concatenate([own[1], other[1]]), groups


def test_one_group_is_the_ungrouped_rule():
    scores, no_target, _ = _shifted_renderers()
    for kwargs in ({}, {"min_t_acc": 95.0}, {"min_t_acc": 95.0, "confidence": 0.95}):
        plain = calibrate_threshold(scores, no_target, **kwargs)
        grouped = calibrate_threshold(scores, no_target, groups=np.full(len(scores), "all"), **kwargs)
        assert (grouped.threshold, grouped.n_acc, grouped.t_acc, grouped.t_acc_lower_bound) == (
            plain.threshold, plain.n_acc, plain.t_acc, plain.t_acc_lower_bound)
        assert grouped.groups["all"]["t_acc"] == plain.t_acc and plain.groups is None


def test_groups_each_keep_the_bound_that_the_pool_lets_one_of_them_miss():
    scores, no_target, groups = _shifted_renderers()
    pooled = calibrate_threshold(scores, no_target, 95.0, 0.95)
    other = groups == "independent"
    found = scores[other & ~no_target] >= pooled.threshold
    assert 100 * found.mean() < 95.0  # the pool's threshold loses the shifted renderer's targets
    mixed = calibrate_threshold(scores, no_target, 95.0, 0.95, groups=groups)
    assert mixed.threshold < pooled.threshold
    for name in ("synthetic", "independent"):
        member = groups == name
        hits = int((scores[member & ~no_target] >= mixed.threshold).sum())
        bound = 100 * float(wilson_lower_bound(np.array([hits]), int((member & ~no_target).sum()), 0.95)[0])
        assert mixed.groups[name]["t_acc_lower_bound"] == pytest.approx(bound) and bound >= 95.0
    assert mixed.t_acc_lower_bound == min(g["t_acc_lower_bound"] for g in mixed.groups.values())
    assert "in each of the groups synthetic, independent" in mixed.rule
    # the next candidate up breaks some group's bound: the highest threshold that keeps all of them
    above = np.unique(scores)[np.unique(scores) > mixed.threshold][1]  # found at the next candidate
    bounds = [100 * wilson_lower_bound(np.array([int((scores[(groups == n) & ~no_target] >= above).sum())]),
                                       int(((groups == n) & ~no_target).sum()), 0.95)[0]
              for n in ("synthetic", "independent")]
    assert min(bounds) < 95.0


def test_balanced_rule_over_groups_weighs_each_group_equally():
    scores, no_target, groups = _shifted_renderers()
    mixed = calibrate_threshold(scores, no_target, groups=groups)
    means = [(g["n_acc"] + g["t_acc"]) / 2 for g in mixed.groups.values()]
    best = max(np.mean([50 * ((~(scores >= t))[(groups == n) & no_target].mean()
                              + (scores >= t)[(groups == n) & ~no_target].mean())
                        for n in ("synthetic", "independent")])
               for t in np.linspace(0, 1, 2001))
    assert np.mean(means) == pytest.approx(best, abs=1e-9)
    with pytest.raises(ValueError, match="group 'b'"):
        calibrate_threshold(np.array([0.1, 0.9, 0.8]), np.array([True, False, False]), groups=np.array(["a", "a", "b"]))
