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

With ``groups`` (e.g. the dataset each expression comes from: two renderers' val splits), the
threshold must serve every group, not their pool: the balanced rule maximises the mean over the
groups of each group's mean of N-acc and T-acc, and the constrained rules require T-acc (or its
Wilson bound) >= ``min_t_acc`` in every group, maximising the groups' mean N-acc. A larger or
easier group then cannot hide a shift in a smaller one. Requiring every group's bound is an
intersection-union test: each group's bound at ``confidence`` gives that confidence for all of
them together, with no correction for the number of groups.
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
    # with groups: group -> its own n_acc, t_acc, items and bound; the fields above are then the
    # groups' means (n_acc, t_acc), sums (items) and smallest bound
    groups: dict[str, dict] | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """N-acc and T-acc for a log line, and T-acc's lower bound under the confident rule."""
        bound = "" if self.t_acc_lower_bound is None else f" (lower bound {self.t_acc_lower_bound:.2f})"
        text = f"N-acc {self.n_acc:.2f} T-acc {self.t_acc:.2f}{bound}"
        if self.groups:
            text += " (group means); " + "; ".join(
                f"{name}: N-acc {g['n_acc']:.2f} T-acc {g['t_acc']:.2f}"
                + ("" if g["t_acc_lower_bound"] is None else f" (lower bound {g['t_acc_lower_bound']:.2f})")
                for name, g in self.groups.items())
        return text


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
                        confidence: float | None = None, groups: np.ndarray | None = None) -> Calibration:
    """The found threshold of the calibration rule (module docstring).

    Args:
        scores: (E,) object probability of the chosen query per expression, in [0, 1].
        no_target: (E,) bool, True for expressions that name nothing.
        min_t_acc: percent; None = the balanced rule, else the constrained one.
        confidence: with ``min_t_acc``, constrain the Wilson lower bound of T-acc at this
            one-sided confidence (e.g. 0.95) instead of T-acc itself.
        groups: (E,) group name per expression (e.g. its dataset); None = one group. Each group
            is balanced or constrained on its own (module docstring).

    Raises:
        ValueError: a group without target or without no-target expressions (nothing to
            balance), a confidence without ``min_t_acc``, or a constraint that no threshold meets.
    """
    scores, no_target = np.asarray(scores, dtype=np.float64), np.asarray(no_target, dtype=bool)
    if scores.shape != no_target.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and no_target {no_target.shape} must be equal 1-d shapes")
    labels = np.zeros(len(scores), dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if labels.shape != scores.shape:
        raise ValueError(f"groups {labels.shape} must have the shape of scores {scores.shape}")
    names = list(dict.fromkeys(labels.tolist()))  # in order of appearance
    for name in names:
        member = labels == name
        if no_target[member].all() or not no_target[member].any():
            where = "" if groups is None else f" in group {name!r}"
            raise ValueError(f"calibration needs both target and no-target expressions{where}")
    if confidence is not None and min_t_acc is None:
        raise ValueError("a confidence bounds T-acc, so it needs min_t_acc")
    distinct = np.unique(scores)
    candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, [1.0]])
    found = scores[None, :] >= candidates[:, None]  # (C, E)
    members = [labels == name for name in names]
    n_acc = np.stack([(~found[:, m & no_target]).mean(axis=1) for m in members])  # (G, C)
    targets_found = np.stack([found[:, m & ~no_target].sum(axis=1) for m in members])  # (G, C)
    target_items = np.array([int((m & ~no_target).sum()) for m in members])  # (G,)
    t_acc = targets_found / target_items[:, None]  # (G, C)
    bound = None
    if min_t_acc is None:
        objective, rule = ((n_acc + t_acc) / 2).mean(axis=0), RULE
    else:  # candidates rise, so T-acc falls in every group: the last one allowed has the highest N-acc
        if confidence is None:
            constrained, rule = t_acc, CONSTRAINED_RULE.format(min_t_acc=min_t_acc)
        else:
            bound = np.stack([wilson_lower_bound(k, n, confidence) for k, n in zip(targets_found, target_items)])
            constrained, rule = bound, CONFIDENT_RULE.format(confidence=confidence, min_t_acc=min_t_acc)
        allowed = (100 * constrained >= min_t_acc).all(axis=0)  # (C,) in every group
        if groups is not None:
            rule += f" in each of the groups {', '.join(map(str, names))}"
        if not allowed[0]:
            raise ValueError(f"no threshold meets the rule {rule!r}, not even finding every target")
        objective = np.where(allowed, n_acc.mean(axis=0), -1.0)
    if groups is not None and min_t_acc is None:
        rule = f"max mean over the groups {', '.join(map(str, names))} of mean(N-acc, T-acc), middle of ties"
    best = np.flatnonzero(objective >= objective.max() - 1e-12)
    pick = best[len(best) // 2] if min_t_acc is None else best[-1]
    per_group = None
    if groups is not None:
        per_group = {str(name): {"n_acc": 100 * float(n_acc[g, pick]), "t_acc": 100 * float(t_acc[g, pick]),
                                 "no_target_items": int((members[g] & no_target).sum()),
                                 "target_items": int(target_items[g]),
                                 "t_acc_lower_bound": None if bound is None else 100 * float(bound[g, pick])}
                     for g, name in enumerate(names)}
    return Calibration(float(candidates[pick]), 100 * float(n_acc[:, pick].mean()), 100 * float(t_acc[:, pick].mean()),
                       int(no_target.sum()), int(target_items.sum()), rule,
                       None if bound is None else 100 * float(bound[:, pick].min()), per_group)
