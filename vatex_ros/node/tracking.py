"""One expression followed on one camera: its predictor stream, score smoothing, found/lost hysteresis, target id.

The node keeps a :class:`Track` per (camera, expression). Each owns its own stream session (``vatex_core``'s
``StreamSession``: the expression's text features, a temporal model's memory of this camera's past frames, the
target id), so expressions and cameras never share memory; the node batches their frames into one forward.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

logger = logging.getLogger(__name__)


class Session(Protocol):
    """A predictor stream bound to one expression (``vatex_core`` ``Predictor.stream``).

    ``resets`` counts the times its temporal memory started afresh, by reason; predictions carry
    ``found``, ``score``, ``mask``, ``timings`` and ``target_id``.
    """

    max_gap: float
    resets: Mapping[str, int]

    def step(self, image: np.ndarray, stamp: float | None = None) -> Any: ...


class Track:
    """The state of one expression on one camera.

    Args:
        expression: the expression (already cleaned).
        session: its predictor stream on this camera.
    """

    def __init__(self, expression: str, session: Session):
        self.expression = expression
        self.session = session
        self.score = 0.0  # smoothed
        self.found = False  # after hysteresis
        self.target_id = 0  # the id of the object last found
        self._hits = 0
        self._misses = 0
        self._resets = dict(session.resets)  # the session's reset counts already reported

    def update(self, score: float, hit: bool, target_id: int, smoothing: float, found_after: int,
               lost_after: int) -> bool:
        """EMA score smoothing and found/lost hysteresis over hits (frames whose prediction is found).

        Returns whether the target is found.
        """
        first = self._hits == 0 and self._misses == 0
        self.score = score if first else smoothing * score + (1 - smoothing) * self.score
        if hit:
            self._hits, self._misses = self._hits + 1, 0
        else:
            self._hits, self._misses = 0, self._misses + 1
        if not self.found and self._hits >= found_after:
            self.found = True
        elif self.found and self._misses >= lost_after:
            self.found = False
        self.target_id = target_id or self.target_id
        return self.found

    def new_resets(self) -> dict[str, int]:
        """Memory resets the session made since the last call, by reason (``{}`` if none)."""
        new = {}
        for reason, count in self.session.resets.items():
            if count != self._resets.get(reason, 0):
                new[reason] = count - self._resets.get(reason, 0)
                self._resets[reason] = count
        return new
