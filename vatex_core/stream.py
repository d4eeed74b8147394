"""A stream of frames for one expression: the text encoded once, the temporal memory, resets and target ids.

A :class:`StreamSession` belongs to a :class:`~vatex_core.predictor.Predictor`. With a temporal model
(``cfg.temporal.memory_frames > 0``) it carries a :class:`~vatex_core.temporal.FrameMemory` from frame
to frame; with a per-frame model it only holds the text. The memory starts empty and is emptied
again (a *reset*, counted in ``resets`` by reason) when

- ``time_gap``: the frame's stamp is more than ``max_gap`` seconds after the previous frame's;
- ``stamp_backwards``: the stamp is earlier than the previous frame's (a bag played in a loop);
- ``frame_size``: the frame's size differs from the previous frame's.

A new expression is a new session, so it starts with an empty memory too.

The memory keeps frames ``cfg.temporal.frame_interval`` seconds apart (by their stamps), so a camera
at 30 frames a second shows the model the motion of the time scale it was trained on; a frame that
comes sooner only updates the remembered target mask. Without stamps every frame is kept.

Target ids: each found prediction carries ``target_id``, an integer that stays the same while the
session believes it follows one object. A new id is drawn (from a counter shared by the
predictor's sessions, so ids never repeat in a process) on the first found frame of a session,
after each reset, and when the found mask jumps: its centroid is farther from the previous found
mask's than ``JUMP_FACTOR`` times the sum of both masks' sizes (square roots of their areas). A
frame where the target is not found keeps the id for the frames after it: an object that is
hidden for a while and comes back keeps its id. Not-found predictions carry ``target_id`` 0.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vatex_core.temporal import FrameMemory
from vatex_core.text_encoder import TextFeatures

if TYPE_CHECKING:
    from vatex_core.predictor import Prediction, Predictor

JUMP_FACTOR = 1.5  # centroid distance over (sqrt(area) + sqrt(area')) from which a found mask is another object
DEFAULT_MAX_GAP = 1.0  # seconds between stamps from which the memory is no longer the same scene
RESET_REASONS = ("time_gap", "stamp_backwards", "frame_size")
KEEP_TOLERANCE = 0.75  # a frame enters the memory from this fraction of frame_interval on (camera jitter)


class StreamSession:
    """Segments one expression in a stream of frames; the text features are computed once."""

    def __init__(
        self, predictor: Predictor, expression: str | TextFeatures, max_gap: float = DEFAULT_MAX_GAP
    ) -> None:
        """Starts a stream.

        Args:
            predictor: the predictor whose model runs the frames.
            expression: the referring expression, or its features (``predictor.encode``; then
                ``self.expression`` is None).
            max_gap: seconds between two frames' stamps beyond which the memory resets (> 0).
        """
        from vatex_core.predictor import check_expression

        if not max_gap > 0:
            raise ValueError(f"max_gap must be > 0 seconds, got {max_gap}")
        self.predictor = predictor
        if isinstance(expression, TextFeatures):
            self.expression, self.text = None, expression
        else:
            self.expression = check_expression(expression)
            self.text = predictor.encode(self.expression)
        self.max_gap = max_gap
        self.memory: FrameMemory | None = None  # None: nothing remembered (also for a per-frame model)
        self.resets: Counter[str] = Counter()  # reason -> how often the memory was emptied
        self._last_stamp: float | None = None
        self._kept_stamp: float | None = None  # stamp of the newest frame in the memory
        self._frame_size: tuple[int, int] | None = None
        self._stamp: float | None = None  # the current frame's
        self._target_id = 0  # 0: no object followed yet (or since the last reset)
        self._last_found: tuple[float, float, float] | None = None  # (x, y, sqrt(area)) of the last found mask

    def step(self, image: np.ndarray | Image.Image, stamp: float | None = None) -> Prediction:
        """Segments the session's expression in the next frame.

        Args:
            image: the frame (any size; gray/RGBA converted).
            stamp: the frame's time in seconds (e.g. its header stamp); None = no time checks.
        """
        return self.predictor.step_batch([self], [image], [stamp])[0]

    def reset(self, reason: str) -> None:
        """Forgets the past frames (and the followed object); counts ``reason`` (one of RESET_REASONS)."""
        if reason not in RESET_REASONS:
            raise ValueError(f"unknown reset reason {reason!r}; expected one of {RESET_REASONS}")
        self.resets[reason] += 1
        self.memory = None
        self._last_stamp = self._kept_stamp = None
        self._target_id = 0
        self._last_found = None

    def before_frame(self, frame_size: tuple[int, int], stamp: float | None) -> None:
        """Resets the memory if this frame does not continue the stream (called by the predictor)."""
        if self._frame_size is not None and frame_size != self._frame_size:
            self.reset("frame_size")
        elif stamp is not None and self._last_stamp is not None:
            if stamp < self._last_stamp:
                self.reset("stamp_backwards")
            elif stamp - self._last_stamp > self.max_gap:
                self.reset("time_gap")
        self._frame_size = frame_size
        self._last_stamp = stamp if stamp is not None else self._last_stamp
        self._stamp = stamp

    def keeps_frame(self) -> bool:
        """Whether this frame's features enter the memory (called by the predictor after the forward)."""
        if self.memory is None or self._stamp is None or self._kept_stamp is None:
            return True
        interval = self.predictor.model.cfg.temporal.frame_interval
        return self._stamp - self._kept_stamp >= KEEP_TOLERANCE * interval

    def remember(self, memory: FrameMemory, kept: bool) -> None:
        """The memory after this frame (the predictor builds it); ``kept``: the frame's features entered it."""
        self.memory = memory
        if kept:
            self._kept_stamp = self._stamp

    def after_frame(self, prediction: Prediction) -> None:
        """Gives the prediction its target id (called by the predictor once the memory is updated)."""
        from vatex_core.predictor import mask_box

        box = None if not prediction.found else prediction.box or mask_box(prediction.mask)
        if box is None:  # not found, or an empty mask
            prediction.target_id = 0
            return
        found = _centroid_and_size(prediction.mask, box)
        if self._target_id == 0 or self._jumped(found):
            self._target_id = self.predictor.next_target_id()
        self._last_found = found
        prediction.target_id = self._target_id

    def _jumped(self, found: tuple[float, float, float]) -> bool:
        if self._last_found is None:
            return False
        x, y, size = self._last_found
        return math.hypot(found[0] - x, found[1] - y) > JUMP_FACTOR * (size + found[2])


def _centroid_and_size(mask: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """(x, y, sqrt(area)) of a (H, W) bool mask from sums inside its box (x_min, y_min, x_max, y_max; pixel edges):
    no index arrays (``np.nonzero`` of a 1080p mask costs milliseconds)."""
    x_min, y_min, x_max, y_max = (int(v) for v in box)
    inside = mask[y_min:y_max, x_min:x_max].view(np.uint8)  # (h, w) 0/1
    per_col, per_row = inside.sum(axis=0, dtype=np.int64), inside.sum(axis=1, dtype=np.int64)  # (w,), (h,)
    area = int(per_col.sum())
    return (x_min + float(per_col @ np.arange(per_col.size)) / area,
            y_min + float(per_row @ np.arange(per_row.size)) / area, math.sqrt(area))
