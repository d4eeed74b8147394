"""Transport-independent node logic: frames and expressions in, per-frame results out.

The core owns the temporal state of a stream: one predictor session per expression (its text
features and CLIP-prior prompt are computed once; a temporal model's memory of past frames, reset
on a time gap or a stamp going back, and the target id), a one-slot frame buffer where the newest
frame wins, a frame-age check, EMA score smoothing and found/lost hysteresis. With the
``use_depth`` parameter a found target is also located in 3D from the depth image and
CameraInfo paired with the frame by stamp. Inference runs on the core's own worker thread, so
``set_expression``, ``submit_frame`` and ``submit_depth`` never wait for a running frame.
Transports (rclpy, DDS) only convert messages and call these methods.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable, Protocol

import numpy as np

from vatex_ros.node.depth import DepthConfig, DepthError, Target3D, locate_target
from vatex_ros.node.depth_sync import DepthSync, stamp_seconds
from vatex_ros.echo import shorten
from vatex_ros.node.diagnostics import Diagnostics
from vatex_ros.messages.images import ImageTooLarge, image_size, msg_to_rgb
from vatex_ros.node.frame_age import FrameAge
from vatex_ros.node.params import NodeParams

logger = logging.getLogger(__name__)

_OTHER_CLOCK_SECONDS = 3600.0  # a frame this far from the node clock is stamped by another clock, not late
_DRAFT_FACTOR = 64  # JPEG decodes at 1/8 scale at most: 64 times fewer pixels


class Session(Protocol):
    """A predictor stream bound to one expression (``vatex_core`` ``Predictor.stream``).

    ``resets`` counts the times its temporal memory started afresh, by reason; predictions carry
    ``found``, ``score``, ``mask``, ``timings`` and ``target_id``.
    """

    max_gap: float
    resets: Mapping[str, int]

    def step(self, image: np.ndarray, stamp: float | None = None) -> Any: ...


class Predictor(Protocol):
    """What the core needs from ``vatex_core.Predictor``."""

    def stream(self, expression: str, max_gap: float) -> Session: ...


@dataclass(frozen=True)
class FrameResult:
    """Everything the transports publish for one processed frame.

    Attributes:
        header: the source frame's header object, unchanged.
        expression: expression in force for this frame.
        found: target present after hysteresis; when False, ``mask`` is empty and ``box`` None.
        score: smoothed confidence in [0, 1].
        mask: (H, W) bool at the source frame's resolution.
        box: (x_min, y_min, x_max, y_max) pixels of the mask, inclusive, or None.
        centroid: (x, y) pixels of the mask's centre of mass, or None.
        area: mask pixels.
        latency: seconds from the frame's arrival at the core to this result.
        timings: seconds per stage: the predictor's own (``text``, ``preprocess``, ``model``, ``postprocess``)
            plus the node's ``decode`` (message -> RGB), ``track`` (hysteresis and 2D geometry) and, with depth,
            ``depth`` (the 3D step). The node's keys never collide with the predictor's.
        rgb: (H, W, 3) uint8 source frame, for the overlay.
        target_3d: the target in the frame's optical frame, or None (not found, depth off or unusable).
        target_id: the followed object's id while found (the same object keeps it; a new one when the
            stream believes the target changed, see ``vatex_core.stream``), 0 when not found.
    """

    header: Any
    expression: str
    found: bool
    score: float
    mask: np.ndarray
    box: tuple[float, float, float, float] | None
    centroid: tuple[float, float] | None
    area: int
    latency: float
    timings: dict[str, float]
    rgb: np.ndarray
    target_3d: Target3D | None = None
    target_id: int = 0


@dataclass
class _Pending:
    msg: Any  # sensor_msgs/Image or CompressedImage; None: ``load`` gives it
    arrival: float  # monotonic seconds
    load: Callable[[], Any] | None = None  # deserializes the message only when the frame is processed


class NodeCore:
    """Frames and expressions in, :class:`FrameResult` out (on the worker thread).

    Args:
        predictor: ``vatex_core.Predictor`` or anything with ``stream(expression).step(rgb)``.
        params: validated node parameters.
        on_result: called with each FrameResult, on the worker thread.
        on_expression: called with the expression that is now in force, on the worker thread.
        clock: seconds in the time base of the frames' header stamps (ROS/wall time); frame age
            is ``clock() - stamp``.
        monotonic: monotonic seconds, for latency and warning rate limits.
    """

    def __init__(self, predictor: Predictor, params: NodeParams, on_result: Callable[[FrameResult], None],
                 on_expression: Callable[[str], None] = lambda expression: None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic):
        self.params = params
        self.diagnostics = Diagnostics(logger, params.warn_interval, monotonic)
        self._predictor = predictor
        self._on_result = on_result
        self._on_expression = on_expression
        self._clock = clock
        self._monotonic = monotonic
        self._wake = threading.Condition()
        self._frame: _Pending | None = None
        self._depth = DepthSync(params.depth_queue_size, params.depth_sync_tolerance)
        self._depth_config = _depth_config(params)
        self._frame_age = FrameAge(params.frame_age_mode)
        self._expression: str | None = None  # accepted, not yet in force
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Stream state, touched by the worker only.
        self._session: Session | None = None
        self._resets: dict[str, int] = {}  # the session's reset counts already reported
        self._target_id = 0  # the id of the object last found
        self._active = ""
        self._score = 0.0
        self._found = False
        self._hits = 0
        self._misses = 0
        if params.expression:
            self.set_expression(params.expression)

    # --- inputs (any thread, never block on inference) ---------------------------------

    def set_expression(self, data: str | bytes) -> bool:
        """Accept a new referring expression; it replaces the active one before the next frame.

        Returns:
            False if rejected (not UTF-8, empty); a warning and a diagnostic are recorded.
        """
        if isinstance(data, (bytes, bytearray)):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError as err:
                self.diagnostics.warn("expression_not_utf8", f"ignoring expression that is not UTF-8: {err.reason} "
                                      f"at byte {err.start}")
                return False
        expression = " ".join(data.replace("\x00", " ").split())
        if not expression:
            self.diagnostics.warn("expression_empty", "ignoring empty expression")
            return False
        limit = self.params.max_expression_length
        if len(expression) > limit:
            self.diagnostics.warn("expression_truncated",
                                  f"expression of {len(expression)} characters truncated to {limit}")
            expression = expression[:limit]
        with self._wake:
            self._expression = expression
            self._wake.notify()
        self.diagnostics.count("expressions_in")
        return True

    def submit_frame(self, msg: Any) -> None:
        """Offer a sensor_msgs/Image or CompressedImage; a frame not yet started is replaced."""
        self._offer(_Pending(msg, self._monotonic()))

    def submit_frame_source(self, load: Callable[[], Any]) -> None:
        """Offer a frame that is deserialized only if it is processed: ``load()`` returns the newest message
        (or None if there is none any more). A transport whose reader keeps the newest sample calls this on
        each arrival, so frames that a newer one replaces cost nothing but this call."""
        self._offer(_Pending(None, self._monotonic(), load))

    def _offer(self, pending: _Pending) -> None:
        with self._wake:
            if self._frame is not None:
                self.diagnostics.count("frames_replaced")
            self._frame = pending
            self._wake.notify()
        self.diagnostics.count("frames_in")

    def submit_depth(self, msg: Any) -> None:
        """Offer a depth sensor_msgs/Image aligned to the colour frames (kept for pairing by stamp)."""
        self._depth.add_depth(msg)
        self.diagnostics.count("depth_in")

    def submit_camera_info(self, msg: Any) -> None:
        """Offer the depth image's sensor_msgs/CameraInfo (kept for pairing by stamp)."""
        self._depth.add_camera_info(msg)
        self.diagnostics.count("camera_info_in")

    def update_params(self, params: NodeParams) -> None:
        """Apply new (validated) parameters; they take effect from the next frame (a changed ``expression``
        becomes the one in force)."""
        changed_expression = params.expression and params.expression != self.params.expression
        self.params = params
        self.diagnostics.interval = params.warn_interval
        self._depth.tolerance = params.depth_sync_tolerance
        self._depth_config = _depth_config(params)
        if params.frame_age_mode != self._frame_age.mode:
            self._frame_age = FrameAge(params.frame_age_mode)
        session = self._session
        if session is not None:
            session.max_gap = params.memory_max_gap  # from its next frame
        if changed_expression:
            self.set_expression(params.expression)

    @property
    def predictor(self) -> Predictor:
        """The model this core runs (one instance for the node's life)."""
        return self._predictor

    def now(self) -> float:
        """Seconds on the node's clock (the time base of frame stamps: wall or sim time)."""
        return self._clock()

    # --- worker ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the inference worker thread."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="vatex-inference", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker after the frame in progress."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or self._frame is not None or self._expression is not None)
                if self._stopping:
                    return
            self.step()

    def step(self) -> FrameResult | None:
        """Apply a pending expression, then process the pending frame if any (worker thread or tests).

        Returns:
            The published result, or None if no frame was processed.
        """
        with self._wake:
            expression, self._expression = self._expression, None
            pending, self._frame = self._frame, None
        if expression is not None:
            self._activate(expression)
        if pending is None:
            return None
        try:
            result = self._process(pending)
        except Exception as err:  # noqa: BLE001 - a bad frame or model failure must not stop the node
            self.diagnostics.warn("inference_error", f"frame skipped, inference failed: {err!r}")
            return None
        if result is None:
            return None
        self.diagnostics.count("frames_out")
        try:
            self._on_result(result)
        except Exception as err:  # noqa: BLE001 - a transport failure must not stop inference
            self.diagnostics.warn("publish_error", f"publishing a result failed: {err!r}")
        return result

    def _activate(self, expression: str) -> None:
        if self._session is not None and expression == self._active:
            return  # re-sent (e.g. `ros2 topic pub` at 1 Hz): same stream, hysteresis kept
        try:
            session = self._predictor.stream(expression, max_gap=self.params.memory_max_gap)
        except ValueError as err:
            self.diagnostics.warn("expression_rejected", f"model rejected expression {shorten(repr(expression))}: "
                                  f"{shorten(err)}")
            return
        if self._session is not None:
            self.diagnostics.count("memory_resets_expression")  # a new stream: nothing of the old one is kept
        self._session, self._active, self._resets = session, expression, dict(session.resets)
        self._score, self._found, self._hits, self._misses, self._target_id = 0.0, False, 0, 0, 0
        logger.info("active expression: %s", shorten(repr(expression)))
        self._on_expression(expression)

    def _process(self, pending: _Pending) -> FrameResult | None:
        if self._session is None:
            self.diagnostics.warn("frame_without_expression", "frame dropped: no expression yet "
                                  "(publish one on the expression topic)")
            return None
        if pending.load is not None:
            pending.msg = pending.load()  # the transport counts and drops what it cannot deserialize
            if pending.msg is None:
                return None
        stamp, now = stamp_seconds(pending.msg.header), self._clock()
        # now 0: sim time before the first /clock message, no time to measure against yet
        age = self._frame_age.age(now - stamp) if stamp > 0 and now > 0 else 0.0
        if self.params.max_frame_age and self._frame_age.mode == "clock" and abs(age) > _OTHER_CLOCK_SECONDS:
            side = "before" if age > 0 else "after"  # after: a frame from the future (camera clock in 2038?)
            self.diagnostics.warn("frame_clock_mismatch", f"frame skipped: stamped {abs(age):.0f} s {side} the node "
                                  "clock, so by another clock (sim time? set use_sim_time: true; a camera clock "
                                  "that is off by a fixed amount? sync it, or set frame_age_mode: offset)")
            return None
        if self.params.max_frame_age and age > self.params.max_frame_age:
            self.diagnostics.warn("frame_too_old", f"frame skipped: {age:.3f} s old > max_frame_age "
                                  f"{self.params.max_frame_age} s")
            return None
        started = self._monotonic()
        rgb = self._decode(pending.msg)
        if rgb is None:
            return None
        decoded = self._monotonic()
        # the predictor resizes for the model; the mask comes back at rgb's size
        prediction = self._session.step(rgb, stamp if stamp > 0 else None)
        predicted = self._monotonic()
        self._count_resets()
        mask = np.asarray(prediction.mask, dtype=bool)
        found = self._track(float(prediction.score), bool(prediction.found))
        self._target_id = prediction.target_id or self._target_id
        if not found:
            mask = np.zeros_like(mask)
        box, centroid, area = _geometry(mask)
        tracked = self._monotonic()
        timings = {**dict(prediction.timings), "decode": decoded - started, "track": tracked - predicted}
        target_3d = None
        if self.params.use_depth:
            target_3d = self._locate(pending.msg.header, mask) if found else None
            timings["depth"] = self._monotonic() - tracked
        return FrameResult(header=pending.msg.header, expression=self._active, found=found, score=self._score,
                           mask=mask, box=box, centroid=centroid, area=area,
                           latency=self._monotonic() - pending.arrival, timings=timings, rgb=rgb,
                           target_3d=target_3d, target_id=self._target_id if found else 0)

    def _count_resets(self) -> None:
        """Counts the memory resets the session made since the last frame (``memory_resets_<reason>``)."""
        for reason, count in self._session.resets.items():
            new = count - self._resets.get(reason, 0)
            if new:
                self.diagnostics.count(f"memory_resets_{reason}", new)
                logger.info("temporal memory reset (%s)", reason.replace("_", " "))
                self._resets[reason] = count

    def _decode(self, msg: Any) -> np.ndarray | None:
        """RGB of a frame, after its size (read from the header) passed ``max_input_pixels``; None if skipped."""
        limit = self.params.max_input_pixels
        try:
            width, height, kind = image_size(msg)
            if width * height > limit and not (kind == "jpeg" and width * height <= limit * _DRAFT_FACTOR):
                raise ImageTooLarge(f"{kind} frame of {width}x{height} pixels > max_input_pixels {limit}")
            rgb = msg_to_rgb(msg, max_pixels=limit)
        except ImageTooLarge as err:
            self.diagnostics.warn("image_too_large", f"frame skipped: {err}")
            return None
        except ValueError as err:
            self.diagnostics.warn("bad_image", f"frame skipped: {err}")
            return None
        if rgb.shape[0] * rgb.shape[1] < width * height:
            self.diagnostics.warn("image_downscaled", f"{width}x{height} JPEG > max_input_pixels {limit}: decoded "
                                  f"at {rgb.shape[1]}x{rgb.shape[0]} (the mask has that size)")
        return rgb

    def _locate(self, header: Any, mask: np.ndarray) -> Target3D | None:
        """The found target in 3D; None with a rate-limited warning and a counter when depth is unusable."""
        try:
            depth, camera_info = self._depth.pair(stamp_seconds(header))
            target_3d = locate_target(mask, depth, camera_info, self._depth_config)
        except DepthError as err:
            self.diagnostics.warn(err.kind, f"no 3D for this frame: {err}")
            return None
        self.diagnostics.count("targets_3d")
        return target_3d

    def _track(self, score: float, hit: bool) -> bool:
        """EMA score smoothing and found/lost hysteresis over hits (frames whose prediction is found).

        Returns whether the target is found.
        """
        first = self._hits == 0 and self._misses == 0
        alpha = self.params.score_smoothing
        self._score = score if first else alpha * score + (1 - alpha) * self._score
        if hit:
            self._hits, self._misses = self._hits + 1, 0
        else:
            self._hits, self._misses = 0, self._misses + 1
        if not self._found and self._hits >= self.params.found_after:
            self._found = True
        elif self._found and self._misses >= self.params.lost_after:
            self._found = False
        return self._found


def _depth_config(params: NodeParams) -> DepthConfig:
    """The 3D estimation settings among the node parameters."""
    return DepthConfig(erosion=params.depth_erosion, outlier_mads=params.depth_outlier_mads,
                       min_points=params.depth_min_points, extent_percentile=params.depth_extent_percentile)


def _geometry(mask: np.ndarray) -> tuple[tuple[float, float, float, float] | None, tuple[float, float] | None, int]:
    """Box (inclusive pixel bounds), centroid (x, y) and area of a (H, W) bool mask.

    Bounds from row/column ``any``, centroid and area from the sums inside the box: no index arrays
    (``np.nonzero`` cost 10-30 ms on a 1080p mask; this well under 1.5 ms).
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None, None, 0
    cols = np.flatnonzero(mask.any(axis=0))
    y_min, y_max, x_min, x_max = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    inside = mask[y_min:y_max + 1, x_min:x_max + 1].view(np.uint8)  # (h, w) 0/1
    per_col, per_row = inside.sum(axis=0, dtype=np.int64), inside.sum(axis=1, dtype=np.int64)  # (w,), (h,)
    area = int(per_col.sum())
    centroid = (x_min + float(per_col @ np.arange(per_col.size)) / area,
                y_min + float(per_row @ np.arange(per_row.size)) / area)
    return (float(x_min), float(y_min), float(x_max), float(y_max)), centroid, area
