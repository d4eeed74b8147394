"""Calibration of the "found" threshold on a validation split.

Rule: the threshold on the chosen query's object probability that maximises the mean of N-acc
(no-target expressions predicted not found) and T-acc (target expressions predicted found), the
balanced accuracy of the found/not-found decision. Candidates are the midpoints between
consecutive distinct scores (and 0 and 1); among equally good ones the middle one is taken, so
the threshold sits in the middle of the gap it found.

With ``min_t_acc`` the rule protects the present objects instead (a grasp planner must not lose
them): among the thresholds keeping T-acc >= ``min_t_acc``, the one with the highest N-acc.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RULE = "max mean(N-acc, T-acc) over thresholds on the object probability, middle of ties"
CONSTRAINED_RULE = "max N-acc subject to T-acc >= {min_t_acc}% over thresholds on the object probability"


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold and what it scores on the split it was calibrated on."""

    threshold: float  # found = score >= threshold
    n_acc: float  # percent
    t_acc: float  # percent
    no_target_items: int
    target_items: int
    rule: str = RULE

    def to_dict(self) -> dict:
        return asdict(self)


def calibrate_threshold(scores: np.ndarray, no_target: np.ndarray, min_t_acc: float | None = None) -> Calibration:
    """The found threshold of the calibration rule (module docstring).

    Args:
        scores: (E,) object probability of the chosen query per expression, in [0, 1].
        no_target: (E,) bool, True for expressions that name nothing.
        min_t_acc: percent; None = the balanced rule, else the constrained one.

    Raises:
        ValueError: no target or no no-target expressions (nothing to balance).
    """
    scores, no_target = np.asarray(scores, dtype=np.float64), np.asarray(no_target, dtype=bool)
    if scores.shape != no_target.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and no_target {no_target.shape} must be equal 1-d shapes")
    if no_target.all() or not no_target.any():
        raise ValueError("calibration needs both target and no-target expressions")
    distinct = np.unique(scores)
    candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    found = scores[None, :] >= candidates[:, None]  # (C, E)
    n_acc = (~found[:, no_target]).mean(axis=1)
    t_acc = found[:, ~no_target].mean(axis=1)
    if min_t_acc is None:
        objective, rule = (n_acc + t_acc) / 2, RULE
    else:  # candidates rise, so T-acc falls: the last one allowed has the highest N-acc
        objective, rule = np.where(100 * t_acc >= min_t_acc, n_acc, -1.0), CONSTRAINED_RULE.format(min_t_acc=min_t_acc)
    best = np.flatnonzero(objective >= objective.max() - 1e-12)
    pick = best[len(best) // 2] if min_t_acc is None else best[-1]
    return Calibration(float(candidates[pick]), 100 * float(n_acc[pick]), 100 * float(t_acc[pick]),
                       int(no_target.sum()), int((~no_target).sum()), rule)
