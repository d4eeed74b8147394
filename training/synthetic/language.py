"""The synthetic dataset's expression grammar, its parser and the checker of what an expression picks.

Grammar (every generated expression is an instance; ``parse`` accepts exactly this)::

    expression  := "the" [superlative] description [spatial] [relation "the" description]
                 | "the" [speed] description | "the" description motion
    description := [size] [colour] [texture] noun          noun := a shape name | "shape"
    superlative := biggest | smallest | leftmost | rightmost | topmost | bottommost
    spatial     := on the left | on the right | at the top | at the bottom | in the middle
    relation    := next to | above | below | to the left of | to the right of
    speed       := fastest | slowest
    motion      := moving left | moving right | moving up | moving down | that is moving | that is not moving

Meaning, evaluated on one frame's geometry (centres and analytic areas of ``ObjectTruth``):
the description filters objects by attributes; a relation keeps those standing in it to the
landmark (which must be the only object matching its description); a superlative or a spatial
word then keeps the extreme object (a superlative needs at least two candidates).
Extremes must win by a clear margin and thresholds have a
grey zone: a near-tie or a borderline case adds ``UNSURE`` to the result, so the expression
never counts as picking exactly one object. With a single candidate, a spatial word is
checked against the image (left = left part of the image, middle = near the centre).

Motion words (videos) are read from each object's velocity over the whole clip (its centres on the
first and last frame, in scene coordinates: camera shake does not move anything), with grey zones
as above: "not moving" is a speed below ``STILL_SPEED``, "moving" one above ``MOVING_SPEED``; a
direction also needs the motion to lie mostly along that axis; "fastest"/"slowest" must beat the
runner-up by a factor ``SPEED_MARGIN``. In a single image nothing moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from training.synthetic.config import COLOURS, SHAPES, SIZES, TEXTURES
from training.synthetic.layout import ObjectTruth

SUPERLATIVES = ("biggest", "smallest", "leftmost", "rightmost", "topmost", "bottommost")
SPATIAL = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
           "middle": "in the middle"}
RELATIONS = {"next_to": "next to", "above": "above", "below": "below", "left_of": "to the left of",
             "right_of": "to the right of"}
SPEEDS = ("fastest", "slowest")
MOTIONS = {"left": "moving left", "right": "moving right", "up": "moving up", "down": "moving down",
           "moving": "that is moving", "still": "that is not moving"}
UNSURE = "?"  # added to a result when a near-tie or borderline geometry makes the reading uncertain

POSITION_MARGIN = 0.08  # extremes must beat the runner-up by this fraction of the image side
AREA_MARGIN = math.log(1.3)  # "biggest"/"smallest" must beat the runner-up by 30% in area
NEAR_GAP, FAR_GAP = 0.12, 0.2  # "next to": edge gap (fraction of side) surely near / surely not
STILL_SPEED, MOVING_SPEED = 0.002, 0.01  # speed per frame (fraction of side): surely still / surely moving
SPEED_MARGIN = 1.5  # "fastest"/"slowest": speed ratio to the runner-up


@dataclass(frozen=True)
class Description:
    """A noun with optional attributes ("big red striped circle", "shape")."""

    noun: str  # a shape or "shape"
    size: str | None = None
    colour: str | None = None
    texture: str | None = None

    def words(self) -> list[str]:
        return [w for w in (self.size, self.colour, self.texture) if w] + [self.noun]

    def matches(self, obj: ObjectTruth) -> bool:
        return ((self.noun == "shape" or obj.shape == self.noun) and self.size in (None, obj.size)
                and self.colour in (None, obj.colour) and self.texture in (None, obj.texture))


@dataclass(frozen=True)
class Expression:
    """A parsed referring expression."""

    head: Description
    superlative: str | None = None
    spatial: str | None = None  # key of SPATIAL
    relation: str | None = None  # key of RELATIONS
    landmark: Description | None = None
    motion: str | None = None  # key of MOTIONS

    def text(self) -> str:
        words = ["the"] + ([self.superlative] if self.superlative else []) + self.head.words()
        if self.motion:
            words.append(MOTIONS[self.motion])
        if self.spatial:
            words.append(SPATIAL[self.spatial])
        if self.relation:
            words += [RELATIONS[self.relation], "the"] + self.landmark.words()
        return " ".join(words)


def _parse_description(words: list[str]) -> tuple[Description, list[str]]:
    """Consume ``[size] [colour] [texture] noun`` from the front of ``words``."""
    slots = {}
    for slot, vocabulary in (("size", SIZES), ("colour", COLOURS), ("texture", TEXTURES)):
        if words and words[0] in vocabulary:
            slots[slot] = words.pop(0)
    if not words or words[0] not in (*SHAPES, "shape"):
        raise ValueError(f"expected a shape noun, got {' '.join(words)!r}")
    return Description(words.pop(0), **slots), words


def parse(text: str) -> Expression:
    """Parse an expression of the grammar above; ValueError on anything else."""
    words = text.split()
    if not words or words.pop(0) != "the":
        raise ValueError(f"expression must start with 'the': {text!r}")
    superlative = words.pop(0) if words and words[0] in (*SUPERLATIVES, *SPEEDS) else None
    head, words = _parse_description(words)
    rest = " ".join(words)
    motion = next((key for key, phrase in MOTIONS.items() if rest == phrase), None)
    if motion is not None:
        if superlative:
            raise ValueError(f"a superlative and a motion phrase cannot be combined: {text!r}")
        return Expression(head, motion=motion)
    if superlative in SPEEDS and rest:
        raise ValueError(f"'{superlative}' takes no further phrase: {text!r}")
    if superlative and any(rest == p or rest.startswith(p + " ") for p in SPATIAL.values()):
        raise ValueError(f"a superlative and a spatial phrase cannot be combined: {text!r}")
    spatial = next((key for key, phrase in SPATIAL.items() if rest == phrase or rest.startswith(phrase + " ")), None)
    if spatial:
        rest = rest[len(SPATIAL[spatial]):].strip()
    relation, landmark = None, None
    if rest:
        relation = next((key for key, phrase in RELATIONS.items() if rest.startswith(phrase + " the ")), None)
        if relation is None:
            raise ValueError(f"cannot parse {rest!r} in {text!r}")
        landmark, leftover = _parse_description(rest[len(RELATIONS[relation]) + 5:].split())
        if leftover:
            raise ValueError(f"trailing words {' '.join(leftover)!r} in {text!r}")
    return Expression(head, superlative, spatial, relation, landmark)


def _extreme(candidates: list[ObjectTruth], key: Callable[[ObjectTruth], float], margin: float) -> set[str]:
    """Ids of the candidates within ``margin`` of the smallest key (more than one = a near-tie)."""
    best = min(key(o) for o in candidates)
    return {o.object_id for o in candidates if key(o) - best < margin}


def _graded(value: float, sure: float, unsure: float) -> bool | None:
    """True if value < sure, False if value >= unsure, None (borderline) in between."""
    return True if value < sure else (False if value >= unsure else None)


def _in_direction(obj: ObjectTruth, landmark: ObjectTruth, frame: int, relation: str, margin: float) -> bool | None:
    """Is ``obj`` above/below/left of/right of ``landmark``: inside a 90-degree cone, with a grey zone."""
    dx, dy = obj.centers[frame] - landmark.centers[frame]
    along, across = {"above": (-dy, dx), "below": (dy, dx), "left_of": (-dx, dy), "right_of": (dx, dy)}[relation]
    if along < margin / 2 or abs(across) > 1.25 * along:
        return False
    return True if along >= margin and abs(across) < 0.8 * along else None


def _relate(candidates: list[ObjectTruth], landmark: ObjectTruth, relation: str, frame: int,
            side: float) -> tuple[list[ObjectTruth], bool]:
    """Candidates standing in ``relation`` to ``landmark``; the flag says a borderline case was seen."""
    candidates = [o for o in candidates if o is not landmark]
    if not candidates:
        return [], False
    if relation == "next_to":
        def gap(o: ObjectTruth) -> float:
            distance = math.dist(o.centers[frame], landmark.centers[frame])
            return (distance - o.radius - landmark.radius) / side
        nearest = min(candidates, key=gap)
        near = _graded(gap(nearest), NEAR_GAP, FAR_GAP)
        tied = [o for o in candidates if gap(o) - gap(nearest) < POSITION_MARGIN]
        return ([nearest] if near else []), near is None or (bool(near) and len(tied) > 1)
    verdicts = [(o, _in_direction(o, landmark, frame, relation, POSITION_MARGIN * side)) for o in candidates]
    return [o for o, v in verdicts if v], any(v is None for _, v in verdicts)


def _position_keys(width: int, height: int, frame: int) -> dict[str, tuple[Callable[[ObjectTruth], float], float]]:
    """Superlative/spatial word -> (key to minimise, absolute threshold of that key for a lone candidate)."""
    x = lambda o: float(o.centers[frame][0])  # noqa: E731
    y = lambda o: float(o.centers[frame][1])  # noqa: E731
    centre = lambda o: math.dist(o.centers[frame], (width / 2, height / 2))  # noqa: E731
    side = min(width, height)
    return {
        "left": (x, 0.4 * width), "right": (lambda o: -x(o), -0.6 * width),
        "top": (y, 0.4 * height), "bottom": (lambda o: -y(o), -0.6 * height),
        "middle": (centre, 0.2 * side),
    }


def _velocity(obj: ObjectTruth) -> tuple[float, float]:
    """Mean displacement per frame (x, y) over the clip; (0, 0) for a single image."""
    steps = len(obj.centers) - 1
    if steps < 1:
        return 0.0, 0.0
    dx, dy = (obj.centers[-1] - obj.centers[0]) / steps
    return float(dx), float(dy)


def _speed(obj: ObjectTruth, side: float) -> float:
    """Speed per frame as a fraction of the image side."""
    return math.hypot(*_velocity(obj)) / side


def _moves(obj: ObjectTruth, motion: str, side: float) -> bool | None:
    """Does ``obj`` move as ``motion`` says (a key of MOTIONS); None in a grey zone."""
    speed = _speed(obj, side)
    still = _graded(speed, STILL_SPEED, MOVING_SPEED)  # True: still, False: moving, None: unclear
    if motion == "still":
        return still
    moving = None if still is None else not still
    if motion == "moving" or not moving:
        return moving
    dx, dy = _velocity(obj)
    along, across = {"left": (-dx, dy), "right": (dx, dy), "up": (-dy, dx), "down": (dy, dx)}[motion]
    if along <= abs(across):
        return False
    return True if along >= 2 * abs(across) else None


def referents(expression: str | Expression, objects: Sequence[ObjectTruth], image_size: tuple[int, int],
              frame: int = 0) -> frozenset[str]:
    """Ids of the objects the expression picks out on one frame (``UNSURE`` marks an unclear reading).

    Args:
        expression: text of the grammar (parsed here) or a parsed ``Expression``.
        objects: the scene's truth records.
        image_size: (H, W).
        frame: frame index into each record's ``centers``.
    """
    expr = parse(expression) if isinstance(expression, str) else expression
    height, width = image_size
    side = min(height, width)
    margin = POSITION_MARGIN * side
    candidates = [o for o in objects if expr.head.matches(o)]
    unsure = False
    if expr.relation:
        landmarks = [o for o in objects if expr.landmark.matches(o)]
        if len(landmarks) != 1:
            return frozenset()  # the landmark itself is not identified
        candidates, unsure = _relate(candidates, landmarks[0], expr.relation, frame, side)
    if not candidates:
        return frozenset({UNSURE} if unsure else ())
    chosen = {o.object_id for o in candidates}
    positions = _position_keys(width, height, frame)
    if expr.motion:
        verdicts = {o.object_id: _moves(o, expr.motion, side) for o in candidates}
        unsure |= any(v is None for v in verdicts.values())
        chosen = {i for i, v in verdicts.items() if v}
    if expr.superlative and len(candidates) < 2:
        return frozenset()  # "the biggest X" presupposes several X
    if expr.superlative in SPEEDS:
        sign = -1.0 if expr.superlative == "fastest" else 1.0
        chosen = _extreme(candidates, lambda o: sign * math.log(_speed(o, side) + STILL_SPEED), math.log(SPEED_MARGIN))
    elif expr.superlative in ("biggest", "smallest"):
        sign = -1.0 if expr.superlative == "biggest" else 1.0
        chosen = _extreme(candidates, lambda o: sign * math.log(o.area), AREA_MARGIN)
    elif expr.superlative:
        word = expr.superlative.removesuffix("most")
        chosen = _extreme(candidates, positions[word][0], margin)
    if expr.spatial:
        key, threshold = positions[expr.spatial]
        chosen = _extreme(candidates, key, margin)
        if len(candidates) == 1 or expr.spatial == "middle":  # absolute reading, with a grey zone
            verdicts = {i: _graded(key(o), threshold - margin / 2, threshold + margin / 2)
                        for o in candidates for i in [o.object_id] if i in chosen}
            unsure |= any(v is None for v in verdicts.values())
            chosen = {i for i, v in verdicts.items() if v}
    return frozenset(chosen | ({UNSURE} if unsure else set()))


def picks_exactly(expression: str | Expression, objects: Sequence[ObjectTruth], image_size: tuple[int, int],
                  object_id: str) -> bool:
    """True if the expression picks out ``object_id`` and nothing else on every frame."""
    expr = parse(expression) if isinstance(expression, str) else expression
    num_frames = len(objects[0].centers)
    return all(referents(expr, objects, image_size, t) == {object_id} for t in range(num_frames))
