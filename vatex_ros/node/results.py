"""What the node core gives the transports for each processed frame: one :class:`FrameResult` per camera frame,
holding a :class:`TargetResult` per expression in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vatex_ros.node.depth import Target3D


@dataclass(frozen=True)
class TargetResult:
    """One expression's answer in one frame.

    Attributes:
        expression: the expression.
        found: target present after hysteresis; when False, ``mask`` is empty and ``box`` None.
        score: smoothed confidence in [0, 1].
        mask: (H, W) bool at the source frame's resolution (read-only when empty: one shared buffer).
        box: (x_min, y_min, x_max, y_max) pixels of the mask, inclusive, or None.
        centroid: (x, y) pixels of the mask's centre of mass, or None.
        area: mask pixels.
        target_id: the followed object's id while found (the same object keeps it; a new one when the
            stream believes the target changed, see ``vatex_core.stream``), 0 when not found.
        target_3d: the target in the frame's optical frame, or None (not found, depth off or unusable).
    """

    expression: str
    found: bool
    score: float
    mask: np.ndarray
    box: tuple[float, float, float, float] | None
    centroid: tuple[float, float] | None
    area: int
    target_id: int = 0
    target_3d: Target3D | None = None


@dataclass(frozen=True)
class FrameResult:
    """Everything the transports publish for one processed frame of one camera.

    Attributes:
        header: the source frame's header object, unchanged.
        camera: the camera's name ("" without the ``cameras`` parameter).
        targets: one per expression in force, in the order of the list.
        latency: seconds from the frame's arrival at the core to this result.
        timings: seconds per stage: the predictor's own (``text``, ``preprocess``, ``model``, ``postprocess``; a
            batched forward's time is the whole batch's) plus the node's ``decode`` (message -> RGB), ``track``
            (hysteresis and 2D geometry) and, with depth, ``depth`` (the 3D step). The node's keys never collide
            with the predictor's.
        rgb: (H, W, 3) uint8 source frame, for the overlay.

    The single-expression view (``expression``, ``found``, ``mask``, ...) is the first target's.
    """

    header: Any
    camera: str
    targets: tuple[TargetResult, ...]
    latency: float
    timings: dict[str, float]
    rgb: np.ndarray

    @property
    def expression(self) -> str:
        return self.targets[0].expression

    @property
    def found(self) -> bool:
        return self.targets[0].found

    @property
    def score(self) -> float:
        return self.targets[0].score

    @property
    def mask(self) -> np.ndarray:
        return self.targets[0].mask

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        return self.targets[0].box

    @property
    def centroid(self) -> tuple[float, float] | None:
        return self.targets[0].centroid

    @property
    def area(self) -> int:
        return self.targets[0].area

    @property
    def target_id(self) -> int:
        return self.targets[0].target_id

    @property
    def target_3d(self) -> Target3D | None:
        return self.targets[0].target_3d
