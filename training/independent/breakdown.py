"""Where the found decision fails on the independent renderer: N-acc by what an absent phrase changed.

Each of the renderer's phrases naming nothing is a present object with one attribute changed ("the
green star" when the star is red) or moved ("the red circle on the left" when it is on the right);
its scene records which (``IndependentScene.absent_changes``). From a ``vatex eval --also independent
--calibrate`` JSON (every expression's score, in item order) this gives N-acc per change, so a run
shows which words the model stops checking on a renderer it never saw. No model runs. Run command::

    python -m training.independent.breakdown runs/ablation_randomize/all_on/val.json

(``--split`` must be the JSON's split: the scenes are drawn again to learn each phrase's change.)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from training.data import EvalDataset
from training.independent.scenes import ABSENT_CHANGES, IndependentScene, make_independent_scenes

logger = logging.getLogger(__name__)


def item_changes(scenes: Sequence[IndependentScene]) -> list[str | None]:
    """What each evaluation item's phrase changed (``ABSENT_CHANGES``), None for a target, in ``EvalDataset`` order."""
    changes = []
    for scene_index, object_index, expression_index in EvalDataset(scenes).items:
        scene = scenes[scene_index]
        obj = scene.objects[object_index]
        changes.append(scene.absent_changes[obj.expressions[expression_index]] if obj.no_target else None)
    return changes


def n_acc_by_change(scores: Sequence[tuple[float, bool]], changes: Sequence[str | None],
                    threshold: float) -> dict[str, tuple[int, int]]:
    """Per change: (absent phrases left not found, absent phrases), scores at or above ``threshold`` being found.

    Raises:
        ValueError: the scores and the changes disagree on which items name nothing.
    """
    if len(scores) != len(changes):
        raise ValueError(f"{len(scores)} scores for {len(changes)} items")
    counts = {change: [0, 0] for change in ABSENT_CHANGES}
    for (score, no_target), change in zip(scores, changes):
        if no_target != (change is not None):
            raise ValueError("the scores and the scenes disagree on which items name nothing: "
                             "another split, or another version of the renderer?")
        if change is not None:
            counts[change][0] += score < threshold
            counts[change][1] += 1
    return {change: (right, total) for change, (right, total) in counts.items()}


def breakdown(results: dict, changes: Sequence[str | None],
              threshold: float | None = None) -> dict[str, tuple[int, int]]:
    """``n_acc_by_change`` of an eval JSON's independent scores, at ``threshold`` (default: the both-split
    calibrated one, else the weights' own).

    Raises:
        KeyError: the JSON holds no independent scores (``vatex eval`` without ``--also independent --calibrate``).
    """
    scores = results.get("scores", {}).get("independent")
    if scores is None:
        raise KeyError("no independent scores: run `vatex eval ... --also independent --calibrate`")
    if threshold is None:
        threshold = (results.get("calibration") or {}).get("threshold", results["found_threshold"])
    first = results.get("first_item", 0)
    return n_acc_by_change([tuple(s) for s in scores], changes[first:first + len(scores)], threshold)


def format_rate(right: int, total: int) -> str:
    return f"{100 * right / total:.1f} ({total})" if total else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="`vatex eval --also independent --calibrate` JSONs")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--threshold", type=float, help="found threshold (default: each JSON's calibrated one)")
    args = parser.parse_args(argv)
    changes = item_changes(make_independent_scenes(args.split))
    print("| results | " + " | ".join(f"N-acc, {change} changed (n)" for change in ABSENT_CHANGES) + " |")
    print("|---|" + "---|" * len(ABSENT_CHANGES))
    for path in args.results:
        counts = breakdown(json.loads(path.read_text()), changes, args.threshold)
        print(f"| {path} | " + " | ".join(format_rate(*counts[change]) for change in ABSENT_CHANGES) + " |")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    raise SystemExit(main())
