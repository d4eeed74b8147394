"""Calibration of the "found" threshold on a validation split.

Rule: the threshold on the chosen query's object probability that maximises the mean of N-acc
(no-target expressions predicted not found) and T-acc (target expressions predicted found), the
balanced accuracy of the found/not-found decision. Candidates are the midpoints between
consecutive distinct scores (and 0 and 1); among equally good ones the middle one is taken, so
the threshold sits in the middle of the gap it found.

With ``min_t_acc`` the rule protects the present objects instead (a grasp planner must not lose
them): among the thresholds keeping T-acc >= ``min_t_acc``, the one with the highest N-acc.

That threshold sits where the split's T-acc just reaches ``min_t_acc``, so on new expressions T-acc
falls below it about half the time (and more: the last threshold allowed is the one whose sample
was luckiest). With ``confidence`` as well, the constraint is on the one-sided Wilson lower
confidence bound of T-acc instead of T-acc itself: the threshold then keeps T-acc >= ``min_t_acc``
on the population the split was drawn from with that confidence. The candidates are tested in order
of falling T-acc and the first failure stops the search (fixed-sequence testing), so the bound needs
no correction for the number of candidates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

RULE = "max mean(N-acc, T-acc) over thresholds on the object probability, middle of ties"
CONSTRAINED_RULE = "max N-acc subject to T-acc >= {min_t_acc}% over thresholds on the object probability"
CONFIDENT_RULE = ("max N-acc subject to the one-sided {confidence} Wilson lower bound of T-acc >= {min_t_acc}% "
                  "over thresholds on the object probability")


@dataclass(frozen=True)
class Calibration:
    """A calibrated threshold and what it scores on the split it was calibrated on."""

    threshold: float  # found = score >= threshold
    n_acc: float  # percent
    t_acc: float  # percent
    no_target_items: int
    target_items: int
    rule: str = RULE
    t_acc_lower_bound: float | None = None  # percent, the Wilson bound at ``confidence`` (confident rule only)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """N-acc and T-acc for a log line, and T-acc's lower bound under the confident rule."""
        bound = "" if self.t_acc_lower_bound is None else f" (lower bound {self.t_acc_lower_bound:.2f})"
        return f"N-acc {self.n_acc:.2f} T-acc {self.t_acc:.2f}{bound}"


def wilson_lower_bound(successes: np.ndarray, trials: int, confidence: float) -> np.ndarray:
    """One-sided Wilson score lower confidence bound of a binomial proportion (fractions, not percent)."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1), got {confidence}")
    z = NormalDist().inv_cdf(confidence)
    rate = np.asarray(successes, dtype=np.float64) / trials
    centre = rate + z * z / (2 * trials)
    spread = z * np.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return (centre - spread) / (1 + z * z / trials)


def calibrate_threshold(scores: np.ndarray, no_target: np.ndarray, min_t_acc: float | None = None,
                        confidence: float | None = None) -> Calibration:
    """The found threshold of the calibration rule (module docstring).

    Args:
        scores: (E,) object probability of the chosen query per expression, in [0, 1].
        no_target: (E,) bool, True for expressions that name nothing.
        min_t_acc: percent; None = the balanced rule, else the constrained one.
        confidence: with ``min_t_acc``, constrain the Wilson lower bound of T-acc at this
            one-sided confidence (e.g. 0.95) instead of T-acc itself.

    Raises:
        ValueError: no target or no no-target expressions (nothing to balance), a confidence
            without ``min_t_acc``, or a constraint that no threshold meets.
    """
    scores, no_target = np.asarray(scores, dtype=np.float64), np.asarray(no_target, dtype=bool)
    if scores.shape != no_target.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and no_target {no_target.shape} must be equal 1-d shapes")
    if no_target.all() or not no_target.any():
        raise ValueError("calibration needs both target and no-target expressions")
    if confidence is not None and min_t_acc is None:
        raise ValueError("a confidence bounds T-acc, so it needs min_t_acc")
    distinct = np.unique(scores)
    candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    found = scores[None, :] >= candidates[:, None]  # (C, E)
    target_items = int((~no_target).sum())
    n_acc = (~found[:, no_target]).mean(axis=1)
    targets_found = found[:, ~no_target].sum(axis=1)  # (C,)
    t_acc = targets_found / target_items
    bound = None
    if min_t_acc is None:
        objective, rule = (n_acc + t_acc) / 2, RULE
    else:  # candidates rise, so T-acc falls: the last one allowed has the highest N-acc
        if confidence is None:
            constrained, rule = t_acc, CONSTRAINED_RULE.format(min_t_acc=min_t_acc)
        else:
            bound = wilson_lower_bound(targets_found, target_items, confidence)
            constrained, rule = bound, CONFIDENT_RULE.format(confidence=confidence, min_t_acc=min_t_acc)
        if not (100 * constrained[0] >= min_t_acc):
            raise ValueError(f"no threshold meets the rule {rule!r}, not even finding every target")
        objective = np.where(100 * constrained >= min_t_acc, n_acc, -1.0)
    best = np.flatnonzero(objective >= objective.max() - 1e-12)
    pick = best[len(best) // 2] if min_t_acc is None else best[-1]
    return Calibration(float(candidates[pick]), 100 * float(n_acc[pick]), 100 * float(t_acc[pick]),
                       int(no_target.sum()), target_items, rule,
                       None if bound is None else 100 * float(bound[pick]))
