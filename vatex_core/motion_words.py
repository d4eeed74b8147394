"""What an expression asks of its object's motion, read from its words: the text side of the motion logit.

A temporal model's motion logit (``vatex_core.temporal.MotionLogit``) matches each query's measured
displacement with what the words ask for. The words that name motion are few and their meaning is fixed
("moving left", "that is not moving", "the fastest"), so they are read here from a lexicon instead of
being learnt from the word features: a head fitted on a few dozen videos learnt to give motion weights to
every word that happened to co-occur with motion (stage 4h, docs/model.md), and a lexicon cannot.

The request is one flag per entry of ``MOTION_REQUESTS``. Directions count only after a verb of motion
("moving to the left", "heading up"), so "the circle on the left" asks nothing of motion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

MOTION_REQUESTS = ("left", "right", "up", "down", "moving", "still", "fastest", "slowest")

_VERB = (r"(?:moving|moves|move|going|goes|heading|heads|travell?ing|travels|drifting|drifts|sliding|slides"
         r"|rolling|rolls)")
_DIRECTIONS = {
    "left": r"left(?:wards?)?", "right": r"right(?:wards?)?", "up": r"up(?:wards?)?", "down": r"down(?:wards?)?",
}
_PATTERNS = {
    **{name: re.compile(rf"\b{_VERB}\s+(?:(?:to|towards?)\s+(?:the\s+)?)?{words}\b")
       for name, words in _DIRECTIONS.items()},
    "still": re.compile(r"\b(?:(?:is\s+)?not\s+moving|isn'?t\s+moving|(?:does\s+not|doesn'?t)\s+move|standing\s+still|"
                        rf"not\s+in\s+motion|still(?!\s+{_VERB})|stationary|static|motionless|at\s+rest)\b"),
    "fastest": re.compile(r"\b(?:fastest|quickest|faster|quicker)\b"),
    "slowest": re.compile(r"\b(?:slowest|slower)\b"),
}
_MOVING = re.compile(rf"\b(?:{_VERB}|in\s+motion)\b")


def motion_request(expression: str) -> tuple[float, ...]:
    """One flag (0 or 1) per entry of ``MOTION_REQUESTS``: what ``expression`` asks of its object's motion.

    "moving" is set for a verb of motion that names no direction and is not negated ("the square that is
    moving"); "still" wins over it ("the circle that is not moving").
    """
    text = " ".join(expression.lower().split())
    flags = {name: bool(pattern.search(text)) for name, pattern in _PATTERNS.items()}
    directed = any(flags[name] for name in _DIRECTIONS)
    flags["moving"] = not flags["still"] and not directed and bool(_MOVING.search(text))
    return tuple(float(flags[name]) for name in MOTION_REQUESTS)


def motion_requests(expressions: Sequence[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """``motion_request`` of each expression -> (B, len(MOTION_REQUESTS)) float."""
    return torch.tensor([motion_request(e) for e in expressions], dtype=torch.float32, device=device).reshape(
        len(expressions), len(MOTION_REQUESTS))
