"""How old a frame is, from its header stamp: on the node's clock, or relative to the stream's fastest frame.

``frame_age_mode: clock`` (the default) takes age = node clock - stamp: right when the camera and the node
share a clock (one machine, NTP/PTP-synced machines, or sim time with ``use_sim_time``). ``offset`` is for a
camera whose clock is off by a fixed amount: age = (node clock - stamp) - the smallest such delay among the
last ``window`` frames, so a constant offset cancels while a frame that arrives (or waits) more than
``max_frame_age`` longer than the stream's fastest is still skipped. What it cannot see: a delay that every
frame has (it looks the same as an offset).
"""

from __future__ import annotations

from collections import deque

FRAME_AGE_MODES = ("clock", "offset")


class FrameAge:
    """Ages of a stream's frames (seconds) in one of :data:`FRAME_AGE_MODES`."""

    def __init__(self, mode: str = "clock", window: int = 100):
        if mode not in FRAME_AGE_MODES:
            raise ValueError(f"frame age mode must be one of {FRAME_AGE_MODES}, got {mode!r}")
        self.mode = mode
        self._delays: deque[float] = deque(maxlen=window)

    def age(self, delay: float) -> float:
        """The age of a frame whose stamp lies ``delay`` seconds before the node clock now."""
        if self.mode == "clock":
            return delay
        self._delays.append(delay)
        return delay - min(self._delays)
