"""The table of the randomization ablation (issue 29 item 5; ``training/recipes/ablation_randomize.sh``).

Each run's ``vatex eval --also independent --calibrate`` JSON (both renderers' val splits) becomes
one markdown row: T-acc, N-acc and mIoU of each renderer at the weights' found threshold, then the
threshold calibrated on both splits together (``training.mixed_eval``, balanced rule) and each
renderer's T-acc and N-acc at it. A second table splits the independent renderer's N-acc by what
each absent phrase changed and by the attribute words it says, the next its T-acc by the form of the target
phrase and the texture word a description says, by the colour word a target phrase says and by its target's
area, and its mIoU by form and area (``training.independent.breakdown``).
Run command::

    python -m training.ablation_table runs/ablation_randomize start all_on no_size_scale ... > table.md

reads ``<folder>/<run>/val.json`` for every run named, in that order.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from training.independent.breakdown import item_absents, item_targets, tables
from training.independent.scenes import make_independent_scenes

logger = logging.getLogger(__name__)

RENDERERS = ("synthetic", "independent")
HEADER = ("run", "synthetic T-acc", "N-acc", "mIoU", "independent T-acc", "N-acc", "mIoU",
          "both-split threshold", "synthetic T/N at it", "independent T/N at it")


def row(name: str, results: dict) -> list[str]:
    """One run's cells from its eval JSON (``metrics``, ``also.independent.metrics``, ``calibration``).

    Raises:
        KeyError: the JSON is not a ``vatex eval --also independent`` result on synthetic.
    """
    if results["dataset"] != "synthetic" or "independent" not in results.get("also", {}):
        raise KeyError(f"{name}: expected `vatex eval` on synthetic with --also independent")
    metrics = {"synthetic": results["metrics"], "independent": results["also"]["independent"]["metrics"]}
    cells = [name]
    for renderer in RENDERERS:
        cells += [_number(metrics[renderer][key]) for key in ("T-acc", "N-acc", "mIoU")]
    calibration = results.get("calibration")
    if calibration is None or not calibration.get("groups"):
        return cells + ["-"] * 3
    cells.append(f"{calibration['threshold']:.3f}")
    for renderer in RENDERERS:
        group = calibration["groups"][renderer]
        cells.append(f"{group['t_acc']:.1f} / {group['n_acc']:.1f}")
    return cells


def _number(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def format_markdown(header: tuple[str, ...], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the ablation's output folder (<folder>/<run>/val.json)")
    parser.add_argument("runs", nargs="+", help="run names, in table order")
    args = parser.parse_args(argv)
    results = {}
    for name in args.runs:
        path = args.folder / name / "val.json"
        if not path.exists():
            logger.warning("no %s: row left out", path)
            continue
        results[name] = json.loads(path.read_text())
    if not results:
        return 1
    print(format_markdown(HEADER, [row(name, r) for name, r in results.items()]))
    if any("scores" in r for r in results.values()):
        scenes = make_independent_scenes("val")
        for table in tables(item_absents(scenes), item_targets(scenes)):
            print(f"\nIndependent renderer, {table.title} (n phrases):\n")
            print(format_markdown(("run", *table.columns),
                                  [[name, *table.row(r)] for name, r in results.items() if "scores" in r]))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    raise SystemExit(main())
