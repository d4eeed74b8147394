"""Phrases of the independent renderer and its own checker of what a phrase picks.

The phrases are in the training grammar (``training.synthetic.language``: "the [superlative]
description [spatial] [relation the description]"), but this module shares no code with it and
is stricter: a phrase is generated only when it is true by a wide margin under every reasonable
reading (several candidates or one, relative or absolute position), and a no-target phrase only
when it is clearly false. Geometry is the pixel masks' (centroid, area, extent), not an analytic
one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SUPERLATIVE_WORDS = ("biggest", "smallest", "leftmost", "rightmost", "topmost", "bottommost")
PLACES = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
          "middle": "in the middle"}
RELATION_WORDS = {"next_to": "next to", "above": "above", "below": "below", "left_of": "to the left of",
                  "right_of": "to the right of"}

POSITION_GAP = 0.12  # an extreme must beat the runner-up by this fraction of the short side
AREA_RATIO = 1.5  # "biggest"/"smallest" must beat the runner-up by this area ratio


@dataclass(frozen=True)
class Thing:
    """One drawn object on one frame: attributes and pixel geometry."""

    object_id: str
    shape: str
    colour: str
    size: str
    texture: str
    x: float  # centroid of the mask, pixels
    y: float
    area: float  # mask pixels
    extent: float  # half the larger side of the mask's bounding box, pixels


@dataclass(frozen=True)
class Noun:
    """``[size] [colour] [texture] noun``; noun is a shape name or "shape"."""

    noun: str
    size: str | None = None
    colour: str | None = None
    texture: str | None = None

    def text(self) -> str:
        return " ".join(w for w in (self.size, self.colour, self.texture, self.noun) if w)

    def fits(self, thing: Thing) -> bool:
        return ((self.noun == "shape" or self.noun == thing.shape) and self.size in (None, thing.size)
                and self.colour in (None, thing.colour) and self.texture in (None, thing.texture))


@dataclass(frozen=True)
class Phrase:
    """A referring phrase: a noun with at most one of superlative, place or relation."""

    noun: Noun
    superlative: str | None = None
    place: str | None = None
    relation: str | None = None
    landmark: Noun | None = None

    def text(self) -> str:
        words = ["the"] + ([self.superlative] if self.superlative else []) + [self.noun.text()]
        if self.place:
            words.append(PLACES[self.place])
        if self.relation:
            words += [RELATION_WORDS[self.relation], "the", self.landmark.text()]
        return " ".join(words)


def _side(size: tuple[int, int]) -> float:
    return float(min(size))


def _extreme(things: list[Thing], key, gap: float) -> Thing | None:
    """The thing with the smallest key if it beats every other by ``gap``, else None."""
    ranked = sorted(things, key=key)
    if len(ranked) > 1 and key(ranked[1]) - key(ranked[0]) < gap:
        return None
    return ranked[0]


def _place_keys(width: int, height: int) -> dict:
    return {"left": lambda t: t.x, "right": lambda t: -t.x, "top": lambda t: t.y, "bottom": lambda t: -t.y,
            "middle": lambda t: math.hypot(t.x - width / 2, t.y - height / 2)}


def _clearly_in_place(thing: Thing, place: str, width: int, height: int) -> bool | None:
    """True if surely in that part of the image, False if surely not, None in between."""
    side = min(width, height)
    value = {"left": thing.x / width, "right": 1 - thing.x / width, "top": thing.y / height,
             "bottom": 1 - thing.y / height}.get(place)
    if place == "middle":
        value = math.hypot(thing.x - width / 2, thing.y - height / 2) / side
        return True if value < 0.12 else (False if value > 0.3 else None)
    return True if value < 0.3 else (False if value > 0.55 else None)


def _direction(thing: Thing, landmark: Thing, relation: str, side: float) -> bool | None:
    """Is ``thing`` above/below/left of/right of ``landmark``: True surely, False surely not, None unclear."""
    dx, dy = thing.x - landmark.x, thing.y - landmark.y
    along, across = {"above": (-dy, dx), "below": (dy, dx), "left_of": (-dx, dy), "right_of": (dx, dy)}[relation]
    if along >= 0.12 * side and abs(across) <= 0.6 * along:
        return True
    if along <= 0.02 * side or abs(across) >= 1.5 * max(along, 1e-9):
        return False
    return None


def _gap(a: Thing, b: Thing) -> float:
    return math.hypot(a.x - b.x, a.y - b.y) - a.extent * 1.2 - b.extent * 1.2


def pick(phrase: Phrase, things: Sequence[Thing], image_size: tuple[int, int]) -> set[str] | None:
    """What the phrase picks: a set of ids (empty: nothing), or None when the reading is unclear.

    Args:
        phrase: the phrase.
        things: the objects of one frame.
        image_size: (H, W).
    """
    height, width = image_size
    side = _side(image_size)
    candidates = [t for t in things if phrase.noun.fits(t)]
    if phrase.relation:
        landmarks = [t for t in things if phrase.landmark.fits(t)]
        if len(landmarks) != 1:
            return None
        landmark = landmarks[0]
        candidates = [t for t in candidates if t is not landmark]
        if phrase.relation == "next_to":
            near = [t for t in candidates if _gap(t, landmark) < 0.06 * side]
            far = [t for t in candidates if _gap(t, landmark) > 0.26 * side]
            return {t.object_id for t in near} if len(near) + len(far) == len(candidates) else None
        verdicts = [(t, _direction(t, landmark, phrase.relation, side)) for t in candidates]
        if any(v is None for _, v in verdicts):
            return None
        return {t.object_id for t, v in verdicts if v}
    if not candidates:
        return set()
    if phrase.superlative:
        if len(candidates) < 2:
            return None  # "the biggest X" with one X: a presupposition failure, neither here nor absent
        if phrase.superlative in ("biggest", "smallest"):
            sign = -1.0 if phrase.superlative == "biggest" else 1.0
            best = _extreme(candidates, lambda t: sign * math.log(t.area), math.log(AREA_RATIO))
        else:
            best = _extreme(candidates, _place_keys(width, height)[phrase.superlative[:-4]], POSITION_GAP * side)
        return None if best is None else {best.object_id}
    if phrase.place:
        verdicts = {t.object_id: _clearly_in_place(t, phrase.place, width, height) for t in candidates}
        if len(candidates) == 1:
            verdict = next(iter(verdicts.values()))
            return None if verdict is None else ({candidates[0].object_id} if verdict else set())
        best = _extreme(candidates, _place_keys(width, height)[phrase.place], POSITION_GAP * side)
        if best is None or not verdicts[best.object_id]:  # also true when read as "in that part of the image"
            return None
        others = [v for i, v in verdicts.items() if i != best.object_id]
        return {best.object_id} if all(v is False for v in others) else None
    return {t.object_id for t in candidates}


def things_of(ids: Sequence[str], attributes: Sequence[tuple[str, str, str, str]], masks: np.ndarray) -> list[Thing]:
    """Things from attributes (shape, colour, size, texture) and (N, H, W) masks of one frame."""
    things = []
    for object_id, (shape, colour, size, texture), mask in zip(ids, attributes, masks):
        ys, xs = np.nonzero(mask)
        extent = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 2
        things.append(Thing(object_id, shape, colour, size, texture, float(xs.mean() + 0.5), float(ys.mean() + 0.5),
                            float(mask.sum()), float(extent)))
    return things
