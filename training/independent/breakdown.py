"""Where the found decision fails on the independent renderer: N-acc by what an absent phrase changed,
T-acc by the form of a target phrase.

Each of the renderer's phrases naming nothing is a present object with its shape or one attribute changed
("the green star" when the star is red), maybe with some of its other attributes said as they are ("the
small green dotted star"), or misplaced ("the red circle on the left" when it is on the right); its scene
records which (``IndependentScene.absent_changes``). From a ``vatex eval --also independent --calibrate``
JSON (every expression's score, in item order) this gives N-acc per change, and for the changed ones by
the number of attribute words said (size, colour, texture: 0-1 or 2-3), so a run shows which words the
model stops checking on a renderer it never saw. The target phrases are split by form (a description alone,
with a place, a superlative or a relation), the descriptions alone by the texture word they say, and every
target phrase by the colour word it says of its target and by its target's area, so a run shows which words
it stops finding (5e's misses were descriptions saying "striped" or "dotted"); the mIoU is split by form and
area too (from the JSON's per-expression IoUs). No model runs. Run command::

    python -m training.independent.breakdown runs/ablation_randomize/all_on/val.json

(``--split`` must be the JSON's split: the scenes are drawn again to learn each phrase's change.)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import EvalDataset
from training.independent.grammar import PLACES, RELATION_WORDS, SUPERLATIVE_WORDS
from training.independent.scenes import (ABSENT_CHANGES, SHADES, SIZES, TEXTURES, IndependentScene,
                                         make_independent_scenes)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Absent:
    """An absent phrase: what it changed of a present object, and how many attribute words it says."""

    change: str  # one of ABSENT_CHANGES
    attributes: int  # size, colour and texture words said (0 to 3)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of ``COLUMNS`` this phrase counts in: its change, and (but a misplaced one) its words."""
        own = f"{self.change} changed"
        return (own,) if self.change == "place" else (own, WORD_COLUMNS[self.attributes >= 2])


WORD_COLUMNS = ("0-1 attribute words", "2-3 attribute words")  # phrases with a changed shape or attribute
COLUMNS = (*(f"{change} changed" for change in ABSENT_CHANGES), *WORD_COLUMNS)
_ATTRIBUTE_WORDS = frozenset(SHADES) | frozenset(SIZES) | frozenset(TEXTURES)


def item_absents(scenes: Sequence[IndependentScene]) -> list[Absent | None]:
    """Each evaluation item's :class:`Absent` (None for a target), in ``EvalDataset`` order."""
    items: list[Absent | None] = []
    for scene_index, object_index, expression_index in EvalDataset(scenes).items:
        scene = scenes[scene_index]
        obj = scene.objects[object_index]
        if not obj.no_target:
            items.append(None)
            continue
        text = obj.expressions[expression_index]
        items.append(Absent(scene.absent_changes[text], sum(word in _ATTRIBUTE_WORDS for word in text.split())))
    return items


TARGET_FORMS = ("description", "place", "superlative", "relation")
TARGET_COLUMNS = (*TARGET_FORMS, *(f"description, {word}" for word in (*TEXTURES, "no texture word")))
COLOUR_COLUMNS = (*(f"colour {shade}" for shade in SHADES), "no colour word")
AREA_COLUMNS = ("area < 1%", "area 1-3%", "area >= 3%")  # the target's mask, share of the image
_AREA_BINS = (0.01, 0.03)


def target_columns(text: str) -> tuple[str, ...]:
    """The columns a target phrase counts in: of ``TARGET_COLUMNS`` its form, and for a description alone the
    texture word it says; of ``COLOUR_COLUMNS`` the colour word it says of its target (not of a relation's
    landmark)."""
    relation = next((f" {words} " for words in RELATION_WORDS.values() if f" {words} " in text), None)
    words = text.split(relation)[0].split() if relation else text.split()  # the target's words
    colour = next((f"colour {word}" for word in words if word in SHADES), "no colour word")
    if relation:
        return ("relation", colour)
    if any(word in SUPERLATIVE_WORDS for word in words):
        return ("superlative", colour)
    if any(text.endswith(place) for place in PLACES.values()):
        return ("place", colour)
    return ("description", "description, " + next((w for w in words if w in TEXTURES), "no texture word"), colour)


def area_column(mask: np.ndarray) -> str:
    """The column of ``AREA_COLUMNS`` of a target whose mask is ``mask`` ((T, H, W) or (H, W) bool)."""
    return AREA_COLUMNS[int(np.searchsorted(_AREA_BINS, float(mask.mean()), side="right"))]


def item_targets(scenes: Sequence[IndependentScene]) -> list[tuple[str, ...] | None]:
    """Each evaluation item's ``target_columns`` and ``area_column`` (None for a phrase naming nothing), in
    ``EvalDataset`` order."""
    items: list[tuple[str, ...] | None] = []
    for scene_index, object_index, expression_index in EvalDataset(scenes).items:
        scene = scenes[scene_index]
        obj = scene.objects[object_index]
        items.append(None if obj.no_target else
                     (*target_columns(obj.expressions[expression_index]), area_column(scene.load_mask(obj.object_id))))
    return items


def n_acc_by_column(scores: Sequence[tuple[float, bool]], absents: Sequence[Absent | None],
                    threshold: float) -> dict[str, tuple[int, int]]:
    """Per column of ``COLUMNS``: (absent phrases left not found, absent phrases), a score at or above
    ``threshold`` being found.

    Raises:
        ValueError: the scores and the items disagree on which items name nothing.
    """
    columns = [absent.columns if absent is not None else None for absent in absents]
    return _count_by_column(scores, columns, threshold, COLUMNS, of_absent=True)


def t_acc_by_column(scores: Sequence[tuple[float, bool]], targets: Sequence[tuple[str, ...] | None],
                    threshold: float, columns: Sequence[str] = TARGET_COLUMNS) -> dict[str, tuple[int, int]]:
    """Per column of ``columns`` (``TARGET_COLUMNS`` or ``COLOUR_COLUMNS``): (target phrases found, target
    phrases), a score at or above ``threshold`` being found.

    Raises:
        ValueError: the scores and the items disagree on which items name nothing.
    """
    return _count_by_column(scores, targets, threshold, columns, of_absent=False)


def _count_by_column(scores: Sequence[tuple[float, bool]], items: Sequence[tuple[str, ...] | None], threshold: float,
                     columns: Sequence[str], of_absent: bool) -> dict[str, tuple[int, int]]:
    """Per column of ``columns``: (phrases decided right, phrases). ``items`` holds the columns of each phrase
    counted (the absent ones if ``of_absent``, else the targets; those not in ``columns`` are left out) and None
    for the others; absent phrases are right when not found."""
    if len(scores) != len(items):
        raise ValueError(f"{len(scores)} scores for {len(items)} items")
    if any((no_target == of_absent) != (columns_of is not None) for (_, no_target), columns_of in zip(scores, items)):
        raise ValueError("the scores and the scenes disagree on which items name nothing: "
                         "another split, or another version of the renderer?")
    right = [(score < threshold) if of_absent else (score >= threshold) for score, _ in scores]
    return {column: (sum(values), len(values)) for column, values in _group_by_column(right, items, columns).items()}


def _group_by_column(values: Sequence, items: Sequence[tuple[str, ...] | None],
                     columns: Sequence[str]) -> dict[str, list]:
    """Per column of ``columns``: the values of the items that count in it (an item's columns not in ``columns``
    are left out; None counts in none)."""
    grouped: dict[str, list] = {column: [] for column in columns}
    for value, item_columns in zip(values, items):
        for column in (c for c in item_columns or () if c in grouped):
            grouped[column].append(value)
    return grouped


def _independent_scores(results: dict, threshold: float | None) -> tuple[list[tuple[float, bool]], int, float]:
    """An eval JSON's independent (score, no_target) pairs, its first item, and ``threshold`` (default: the
    both-split calibrated one, else the weights' own).

    Raises:
        KeyError: the JSON holds no independent scores (``vatex eval`` without ``--also independent --calibrate``).
    """
    scores = results.get("scores", {}).get("independent")
    if scores is None:
        raise KeyError("no independent scores: run `vatex eval ... --also independent --calibrate`")
    if threshold is None:
        threshold = (results.get("calibration") or {}).get("threshold", results["found_threshold"])
    return [tuple(s) for s in scores], results.get("first_item", 0), threshold


def breakdown(results: dict, absents: Sequence[Absent | None],
              threshold: float | None = None) -> dict[str, tuple[int, int]]:
    """``n_acc_by_column`` of an eval JSON's independent scores (threshold as ``_independent_scores``)."""
    scores, first, threshold = _independent_scores(results, threshold)
    return n_acc_by_column(scores, absents[first:first + len(scores)], threshold)


def target_breakdown(results: dict, targets: Sequence[tuple[str, ...] | None], threshold: float | None = None,
                     columns: Sequence[str] = TARGET_COLUMNS) -> dict[str, tuple[int, int]]:
    """``t_acc_by_column`` of an eval JSON's independent scores (threshold as ``_independent_scores``)."""
    scores, first, threshold = _independent_scores(results, threshold)
    return t_acc_by_column(scores, targets[first:first + len(scores)], threshold, columns)


def iou_by_column(ious: Sequence[float | None], targets: Sequence[tuple[str, ...] | None],
                  columns: Sequence[str]) -> dict[str, tuple[float, int]]:
    """Per column of ``columns``: (mean IoU in percent, target phrases); NaN for a column without any.

    Raises:
        ValueError: the IoUs and the items disagree on which items name nothing.
    """
    if len(ious) != len(targets):
        raise ValueError(f"{len(ious)} IoUs for {len(targets)} items")
    if any((iou is None) != (item_columns is None) for iou, item_columns in zip(ious, targets)):
        raise ValueError("the IoUs and the scenes disagree on which items name nothing")
    return {column: (100 * float(np.mean(v)) if v else float("nan"), len(v))
            for column, v in _group_by_column(ious, targets, columns).items()}


def iou_breakdown(results: dict, targets: Sequence[tuple[str, ...] | None],
                  columns: Sequence[str]) -> dict[str, tuple[float, int]]:
    """``iou_by_column`` of an eval JSON's independent IoUs.

    Raises:
        KeyError: the JSON holds no independent IoUs (an eval from before they were written, or without
            ``--also independent --calibrate``).
    """
    ious = results.get("ious", {}).get("independent")
    if ious is None:
        raise KeyError("no independent IoUs: run `vatex eval ... --also independent --calibrate` again")
    first = results.get("first_item", 0)
    return iou_by_column(ious, targets[first:first + len(ious)], columns)


def format_rate(right: int, total: int) -> str:
    return f"{100 * right / total:.1f} ({total})" if total else "-"


def format_mean(mean: float, total: int) -> str:
    return f"{mean:.1f} ({total})" if total else "-"


@dataclass(frozen=True)
class Table:
    """One breakdown table: a row per eval JSON, a cell per column."""

    title: str  # what the table shows, for a caption
    measure: str  # "N-acc", "T-acc" or "mIoU"
    columns: tuple[str, ...]
    cells: Callable[[dict], dict[str, str]]  # eval JSON -> cell per column (KeyError: it lacks what is needed)

    def row(self, results: dict) -> list[str]:
        """The JSON's cells in column order; "-" in each when it lacks what the table needs."""
        try:
            cells = self.cells(results)
        except KeyError as err:
            logger.warning("%s: %s", self.title, err.args[0])
            return ["-"] * len(self.columns)
        return [cells[column] for column in self.columns]


def tables(absents: Sequence[Absent | None], targets: Sequence[tuple[str, ...] | None],
           threshold: float | None = None) -> tuple[Table, ...]:
    """The breakdown tables over the independent renderer's items (found at ``threshold``, default each JSON's
    both-split calibrated one)."""

    def rates(counts: dict[str, tuple[int, int]]) -> dict[str, str]:
        return {column: format_rate(*count) for column, count in counts.items()}

    at = "the both-split threshold" if threshold is None else f"threshold {threshold}"
    look = (*COLOUR_COLUMNS, *AREA_COLUMNS)
    shape = (*TARGET_FORMS, *AREA_COLUMNS)
    return (
        Table("N-acc (%) of absent phrases by what they changed of a present object and by the attribute words "
              f"they say, at {at}", "N-acc", COLUMNS, lambda results: rates(breakdown(results, absents, threshold))),
        Table(f"T-acc (%) of target phrases by form, and of descriptions alone by the texture word they say, at {at}",
              "T-acc", TARGET_COLUMNS, lambda results: rates(target_breakdown(results, targets, threshold))),
        Table(f"T-acc (%) of target phrases by the colour word they say of their target and by its area, at {at}",
              "T-acc", look, lambda results: rates(target_breakdown(results, targets, threshold, look))),
        Table("mIoU (%) of target phrases by form and by their target's area, at the weights' own threshold as the "
              "mIoU column (a target not found there has an empty mask)", "mIoU", shape,
              lambda results: {column: format_mean(*value)
                               for column, value in iou_breakdown(results, targets, shape).items()}),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, nargs="+", help="`vatex eval --also independent --calibrate` JSONs")
    parser.add_argument("--split", default="val", choices=("val", "test"))
    parser.add_argument("--threshold", type=float, help="found threshold (default: each JSON's calibrated one)")
    args = parser.parse_args(argv)
    scenes = make_independent_scenes(args.split)
    absents, targets = item_absents(scenes), item_targets(scenes)
    results = [(path, json.loads(path.read_text())) for path in args.results]
    for index, table in enumerate(tables(absents, targets, args.threshold)):
        print(("\n" if index else "") + "| results | "
              + " | ".join(f"{table.measure}, {c} (n)" for c in table.columns) + " |")
        print("|---|" + "---|" * len(table.columns))
        for path, result in results:
            print(f"| {path} | " + " | ".join(table.row(result)) + " |")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    raise SystemExit(main())
