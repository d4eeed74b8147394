"""Found figures threshold by threshold, and how far one threshold is from every dataset's bar (issue 29).

A ``vatex eval --also ... --calibrate`` JSON holds each dataset's (score, no_target) per expression
(``training.mixed_eval``). Read at a list of thresholds, each dataset's T-acc (named object there,
found) and N-acc (named object absent, not found) become one markdown row; with bars (``--bar
synthetic:98:95``: T-acc >= 98 and N-acc >= 95 on that dataset), the best threshold's margin: the
largest, over thresholds, of the smallest figure-minus-bar, so that a margin >= 0 means one threshold
meets every bar. The margin is scanned over every distinct score, not only the listed thresholds.
Run command::

    python -m training.threshold_table runs/absent_words_5n/val.json --thresholds 0.64 0.68 0.72 0.76 0.80 \\
        --bar synthetic:98:95 --bar independent:95:95
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bar:
    """What one dataset's found figures must reach, in percent."""

    dataset: str
    t_acc: float
    n_acc: float

    @classmethod
    def parse(cls, text: str) -> Bar:
        """``DATASET:T:N``, e.g. ``independent:95:95``.

        Raises:
            ValueError: not three fields, or T / N not numbers.
        """
        fields = text.split(":")
        if len(fields) != 3:
            raise ValueError(f"a bar is DATASET:T-ACC:N-ACC (e.g. independent:95:95), not {text!r}")
        return cls(fields[0], float(fields[1]), float(fields[2]))


def found_figures(scores: np.ndarray, no_target: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T-acc and N-acc in percent at each threshold (found = score >= threshold).

    Args:
        scores: (E,) the chosen query's object probability per expression.
        no_target: (E,) whether the expression names nothing.
        thresholds: (C,).

    Returns:
        (C,) T-acc and (C,) N-acc; NaN where the dataset has no expression of that kind.
    """
    found = scores[None, :] >= thresholds[:, None]  # (C, E)
    targets, absents = ~no_target, no_target
    with np.errstate(invalid="ignore"):
        t_acc = 100.0 * found[:, targets].sum(axis=1) / targets.sum()
        n_acc = 100.0 * (~found[:, absents]).sum(axis=1) / absents.sum()
    return t_acc, n_acc


def load_scores(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each dataset's (scores, no_target) from a ``--calibrate`` JSON.

    Raises:
        SystemExit: the JSON has no per-expression scores (written without ``--calibrate``).
    """
    results = json.loads(path.read_text())
    if "scores" not in results:
        raise SystemExit(f"{path} has no per-expression scores: write it with `vatex eval --calibrate --out`")
    loaded = {}
    for dataset, pairs in results["scores"].items():
        values = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
        loaded[dataset] = (values[:, 0], values[:, 1].astype(bool))
    return loaded


def margin(datasets: dict[str, tuple[np.ndarray, np.ndarray]], bars: list[Bar]) -> tuple[float, float]:
    """The best threshold for the bars and its margin in points (module docstring).

    Raises:
        SystemExit: a bar names a dataset the JSON does not hold.
    """
    for bar in bars:
        if bar.dataset not in datasets:
            raise SystemExit(f"bar on {bar.dataset!r}: the JSON holds {sorted(datasets)}")
    candidates = np.unique(np.concatenate([scores for scores, _ in datasets.values()] + [np.array([0.0, 1.0])]))
    worst = np.full(len(candidates), np.inf)
    for bar in bars:
        t_acc, n_acc = found_figures(*datasets[bar.dataset], candidates)
        worst = np.minimum(worst, np.minimum(t_acc - bar.t_acc, n_acc - bar.n_acc))
    best = int(np.argmax(worst))
    return float(candidates[best]), float(worst[best])


def format_table(datasets: dict[str, tuple[np.ndarray, np.ndarray]], thresholds: list[float]) -> str:
    """A markdown table: one column per threshold, one row of ``T / N`` per dataset."""
    header = ["threshold", *(f"{value:.2f}" for value in thresholds)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, (scores, no_target) in datasets.items():
        t_acc, n_acc = found_figures(scores, no_target, np.asarray(thresholds, dtype=np.float64))
        cells = [f"{t:.1f} / {n:.1f}" for t, n in zip(t_acc, n_acc)]
        lines.append("| " + " | ".join([f"{name} T / N", *cells]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("json", type=Path, help="written by `vatex eval --also ... --calibrate --out`")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.64, 0.68, 0.72, 0.76, 0.80, 0.84])
    parser.add_argument("--bar", type=Bar.parse, action="append", default=[],
                        help="DATASET:T-ACC:N-ACC in percent; repeat for each dataset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    datasets = load_scores(args.json)
    print(format_table(datasets, args.thresholds))
    if args.bar:
        threshold, points = margin(datasets, args.bar)
        verdict = "meets every bar" if points >= 0 else "misses a bar"
        print(f"\nbest threshold for the bars: {threshold:.4f}, margin {points:+.2f} points ({verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
