"""Motion phrases of the independent renderer's videos and its own checker of what they pick.

Five forms only, each ``the`` + a description (``grammar.Noun``: "red circle", "big striped
shape") + a motion: "the red circle moving left|right|up|down", "the red circle that is moving",
"the red circle that is not moving", "the fastest red circle", "the slowest red circle". They are
in the training grammar's words, but no code of ``training.synthetic`` reads or makes them here.

Motion is each object's constant velocity over the clip (no bounces, no camera motion), read
with wider margins than the training checker's, so a phrase is made only when it is true (or,
for a no-target phrase, false) beyond doubt: still is exactly still, moving is at least
``MOVING`` of the short side per frame, a direction is a heading within ``AXIS_DEG`` of that
axis (and surely not it at 45 degrees or more away), and "fastest"/"slowest" beat the runner-up
by a speed ratio of ``SPEED_RATIO``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from training.independent.grammar import Noun

MOTION_WORDS = {"left": "moving left", "right": "moving right", "up": "moving up", "down": "moving down",
                "moving": "that is moving", "still": "that is not moving"}
SPEED_WORDS = ("fastest", "slowest")
MOVING = 0.012  # slowest speed called moving, fraction of the short side per frame
AXIS_DEG = 12.0  # a direction phrase needs the heading this close to the axis
SPEED_RATIO = 2.0  # "fastest"/"slowest": speed ratio to the runner-up
_AXES = {"right": (1.0, 0.0), "left": (-1.0, 0.0), "down": (0.0, 1.0), "up": (0.0, -1.0)}  # y down


@dataclass(frozen=True)
class Mover:
    """One object of a video: attributes and its velocity."""

    object_id: str
    shape: str
    colour: str
    size: str
    texture: str
    vx: float  # pixels per frame, x right
    vy: float  # pixels per frame, y down

    def speed(self, side: float) -> float:
        """Speed as a fraction of the short side per frame."""
        return math.hypot(self.vx, self.vy) / side


@dataclass(frozen=True)
class MotionPhrase:
    """``the [fastest|slowest] description [motion]``: exactly one of ``speed`` and ``motion``."""

    noun: Noun
    motion: str | None = None  # a key of MOTION_WORDS
    speed: str | None = None  # one of SPEED_WORDS

    def __post_init__(self) -> None:
        if (self.motion is None) == (self.speed is None):
            raise ValueError("a motion phrase has a motion or a speed word, not both or neither")

    def text(self) -> str:
        if self.speed:
            return f"the {self.speed} {self.noun.text()}"
        return f"the {self.noun.text()} {MOTION_WORDS[self.motion]}"


def moves(mover: Mover, motion: str, side: float) -> bool | None:
    """Does ``mover`` move as ``motion`` says: True surely, False surely not, None unclear."""
    speed = mover.speed(side)
    still = True if speed == 0 else (False if speed >= MOVING else None)
    if motion == "still" or still is None:
        return still
    if motion == "moving" or still:
        return not still
    ax, ay = _AXES[motion]
    off_axis = math.degrees(math.acos(max(-1.0, min(1.0, (mover.vx * ax + mover.vy * ay) / (speed * side)))))
    return True if off_axis <= AXIS_DEG else (False if off_axis >= 45.0 else None)


def pick_motion(phrase: MotionPhrase, movers: Sequence[Mover], side: float) -> set[str] | None:
    """Ids the phrase picks (empty: nothing), or None when its reading is unclear.

    Args:
        phrase: the phrase.
        movers: the video's objects.
        side: the short image side, pixels.
    """
    candidates = [m for m in movers if phrase.noun.fits(m)]  # Noun.fits reads only the attributes
    if phrase.motion:
        verdicts = [(m, moves(m, phrase.motion, side)) for m in candidates]
        if any(v is None for _, v in verdicts):
            return None
        return {m.object_id for m, v in verdicts if v}
    if len(candidates) < 2:
        return None if candidates else set()  # "the fastest X" with one X: neither picked nor absent
    ranked = sorted(candidates, key=lambda m: m.speed(side), reverse=phrase.speed == "fastest")
    first, second = ranked[0].speed(side), ranked[1].speed(side)
    fast, slow = (first, second) if phrase.speed == "fastest" else (second, first)
    if fast < MOVING or fast < SPEED_RATIO * slow:
        return None
    return {ranked[0].object_id}
