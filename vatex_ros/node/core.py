"""Transport-independent node logic: frames and expressions in, per-frame results out.

The core serves one or several cameras (the ``cameras`` parameter; none = one camera on the node's own
topics) and one or several expressions at once, all with one model. Per camera it keeps a one-slot frame
buffer where the newest frame wins, a frame-age check and, with ``use_depth``, the depth and CameraInfo to pair
with a frame by stamp. Per (camera, expression) a :class:`~vatex_ros.node.tracking.Track` keeps a predictor
stream (text features computed once; a temporal model's memory of that camera's past frames, reset on a time
gap or a stamp going back; the target id), EMA score smoothing and found/lost hysteresis.

Inference runs on the core's own worker thread, so ``set_expression``, ``submit_frame`` and ``submit_depth``
never wait for a running frame. Each time it wakes, the worker takes the newest frame of every camera that has
one and runs them, with every expression, through one ``Predictor.step_batch``: frames of one size share one
forward, and a camera's frame is encoded once for all its expressions. A camera that sends nothing is simply not
in the batch, so a silent or slow camera never holds the others back. Transports (rclpy, DDS) only convert
messages and call these methods.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from vatex_ros.echo import shorten
from vatex_ros.messages.images import ImageTooLarge, image_size, msg_to_rgb
from vatex_ros.node.depth import DepthConfig, DepthError, Target3D, locate_target
from vatex_ros.node.depth_sync import DepthSync, stamp_seconds
from vatex_ros.node.diagnostics import Diagnostics
from vatex_ros.node.expressions import LIST_JOINER, clean_expression, decode_text, parse_expressions
from vatex_ros.node.frame_age import FrameAge
from vatex_ros.node.params import NodeParams
from vatex_ros.node.results import FrameResult, TargetResult
from vatex_ros.node.tracking import Session, Track

logger = logging.getLogger(__name__)

_OTHER_CLOCK_SECONDS = 3600.0  # a frame this far from the node clock is stamped by another clock, not late
_DRAFT_FACTOR = 64  # JPEG decodes at 1/8 scale at most: 64 times fewer pixels

__all__ = ["FrameResult", "NodeCore", "Predictor", "Session", "TargetResult"]


class Predictor(Protocol):
    """What the core needs from ``vatex_core.Predictor``.

    ``step_batch(sessions, images, stamps)`` (optional) runs one frame of several sessions in shared forwards; a
    predictor without it has its sessions stepped one by one.
    """

    def stream(self, expression: str, max_gap: float) -> Session: ...


@dataclass
class _Pending:
    msg: Any  # sensor_msgs/Image or CompressedImage; None: ``load`` gives it
    arrival: float  # monotonic seconds
    load: Callable[[], Any] | None = None  # deserializes the message only when the frame is processed


@dataclass
class _Ready:
    """A camera's frame, decoded and about to go through the model."""

    camera: _Camera
    msg: Any
    rgb: np.ndarray  # (H, W, 3) uint8
    stamp: float | None
    arrival: float
    decode: float  # seconds


class _Camera:
    """One camera's inputs and tracks (the worker alone touches ``tracks``)."""

    def __init__(self, name: str, params: NodeParams):
        self.name = name
        self.frame: _Pending | None = None  # guarded by the core's condition
        self.depth = DepthSync(params.depth_queue_size, params.depth_sync_tolerance)
        self.frame_age = FrameAge(params.frame_age_mode)
        self.tracks: list[Track] = []


class NodeCore:
    """Frames and expressions in, :class:`FrameResult` out (on the worker thread).

    Args:
        predictor: ``vatex_core.Predictor`` or anything with ``stream(expression, max_gap).step(rgb, stamp)``.
        params: validated node parameters (``cameras`` names the cameras).
        on_result: called with each FrameResult, on the worker thread.
        on_expression: called with the expression(s) now in force (a list joined by ``"; "``), on the worker thread.
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
        self._cameras = {name: _Camera(name, params) for name in params.cameras or ("",)}
        self._depth_config = _depth_config(params)
        self._expressions: list[str] | None = None  # accepted, not yet in force
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._active: list[str] = []  # in force (worker only)
        if params.expression:
            self.set_expression(params.expression)

    # --- inputs (any thread, never block on inference) ---------------------------------

    @property
    def cameras(self) -> list[str]:
        """The cameras' names, in the order of the ``cameras`` parameter (``[""]`` without it)."""
        return list(self._cameras)

    def set_expression(self, data: str | bytes) -> bool:
        """Accept a new referring expression; it replaces the expression(s) in force before the next frame.

        Returns:
            False if rejected (not UTF-8, empty); a warning and a diagnostic are recorded.
        """
        text = decode_text(data, self.diagnostics)
        expression = None if text is None else clean_expression(text, self.params.max_expression_length,
                                                                self.diagnostics)
        return self._accept([expression] if expression else [] if text is not None else None)

    def set_expressions(self, data: str | bytes | Sequence[str]) -> bool:
        """Accept several expressions at once (text separated by ``;`` or new lines, or a sequence); they replace
        the expression(s) in force before the next frame, each answered on every camera.

        Returns:
            False if rejected (not UTF-8, no expression in it); a warning and a diagnostic are recorded.
        """
        text = data if isinstance(data, (str, bytes, bytearray)) else "\n".join(data)
        text = decode_text(text, self.diagnostics)
        return self._accept(None if text is None else
                            parse_expressions(text, self.params.max_expression_length, self.diagnostics))

    def _accept(self, expressions: list[str] | None) -> bool:
        if expressions is None:  # not UTF-8: already counted
            return False
        if not expressions:
            self.diagnostics.warn("expression_empty", "ignoring empty expression")
            return False
        with self._wake:
            self._expressions = expressions
            self._wake.notify()
        self.diagnostics.count("expressions_in")
        return True

    def submit_frame(self, msg: Any, camera: str = "") -> None:
        """Offer a sensor_msgs/Image or CompressedImage of ``camera``; its frame not yet started is replaced."""
        self._offer(self._camera(camera), _Pending(msg, self._monotonic()))

    def submit_frame_source(self, load: Callable[[], Any], camera: str = "") -> None:
        """Offer a frame of ``camera`` that is deserialized only if it is processed: ``load()`` returns the newest
        message (or None if there is none any more). A transport whose reader keeps the newest sample calls this
        on each arrival, so frames that a newer one replaces cost nothing but this call."""
        self._offer(self._camera(camera), _Pending(None, self._monotonic(), load))

    def _offer(self, camera: _Camera, pending: _Pending) -> None:
        with self._wake:
            if camera.frame is not None:
                self.diagnostics.count("frames_replaced")
            camera.frame = pending
            self._wake.notify()
        self.diagnostics.count("frames_in")
        if camera.name:
            self.diagnostics.count(f"{camera.name}.frames_in")

    def submit_depth(self, msg: Any, camera: str = "") -> None:
        """Offer a depth sensor_msgs/Image aligned to ``camera``'s colour frames (kept for pairing by stamp)."""
        self._camera(camera).depth.add_depth(msg)
        self.diagnostics.count("depth_in")

    def submit_camera_info(self, msg: Any, camera: str = "") -> None:
        """Offer ``camera``'s depth sensor_msgs/CameraInfo (kept for pairing by stamp)."""
        self._camera(camera).depth.add_camera_info(msg)
        self.diagnostics.count("camera_info_in")

    def _camera(self, name: str) -> _Camera:
        try:
            return self._cameras[name]
        except KeyError:
            raise KeyError(f"no camera {name!r}; the node's cameras are {self.cameras}") from None

    def update_params(self, params: NodeParams) -> None:
        """Apply new (validated) parameters; they take effect from the next frame (a changed ``expression``
        becomes the one in force). ``cameras`` is read once, at construction."""
        changed_expression = params.expression and params.expression != self.params.expression
        self.params = params
        self.diagnostics.interval = params.warn_interval
        self._depth_config = _depth_config(params)
        for camera in self._cameras.values():
            camera.depth.tolerance = params.depth_sync_tolerance
            if params.frame_age_mode != camera.frame_age.mode:
                camera.frame_age = FrameAge(params.frame_age_mode)
            for track in list(camera.tracks):
                track.session.max_gap = params.memory_max_gap  # from its next frame
        if changed_expression:
            self.set_expression(params.expression)

    @property
    def predictor(self) -> Predictor:
        """The model this core runs (one instance for the node's life)."""
        return self._predictor

    def active_expressions(self) -> list[str]:
        """The expressions in force (what ``active_expression`` last said), in order."""
        return list(self._active)

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
        """Stop the worker after the batch in progress."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _has_work(self) -> bool:
        return self._expressions is not None or any(c.frame is not None for c in self._cameras.values())

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._stopping or self._has_work())
                if self._stopping:
                    return
            self.step_cameras()

    def step(self) -> FrameResult | None:
        """:meth:`step_cameras`, for one camera: its result, or None if no frame was processed."""
        results = self.step_cameras()
        return results[0] if results else None

    def step_cameras(self) -> list[FrameResult]:
        """Apply pending expressions, then process the newest pending frame of every camera in one batch (worker
        thread or tests).

        Returns:
            The published results, in the order of the cameras; [] if no frame was processed.
        """
        with self._wake:
            expressions, self._expressions = self._expressions, None
            pending = [(camera, camera.frame) for camera in self._cameras.values() if camera.frame is not None]
            for camera, _ in pending:
                camera.frame = None
        if expressions is not None:
            self._activate(expressions)
        ready = [frame for camera, waiting in pending if (frame := self._prepare(camera, waiting)) is not None]
        if not ready:
            return []
        try:
            predictions = self._predict(ready)
        except Exception as err:  # noqa: BLE001 - a bad frame or model failure must not stop the node
            self.diagnostics.warn("inference_error", f"frame skipped, inference failed: {err!r}", n=len(ready))
            return []
        results = []
        for frame, frame_predictions in zip(ready, predictions):
            result = self._result(frame, frame_predictions)
            self.diagnostics.count("frames_out")
            if frame.camera.name:
                self.diagnostics.count(f"{frame.camera.name}.frames_out")
            try:
                self._on_result(result)
            except Exception as err:  # noqa: BLE001 - a transport failure must not stop inference
                self.diagnostics.warn("publish_error", f"publishing a result failed: {err!r}")
            results.append(result)
        return results

    def _activate(self, expressions: list[str]) -> None:
        """Make ``expressions`` the ones in force: an expression already in force keeps its tracks (stream memory,
        hysteresis, target id); a new one gets a fresh stream per camera; a dropped one ends its streams."""
        if expressions == self._active:
            return  # re-sent (e.g. `ros2 topic pub` at 1 Hz): same streams, hysteresis kept
        accepted = []
        for expression in expressions:
            if expression in self._active:
                accepted.append(expression)
                continue
            try:
                sessions = {name: self._predictor.stream(expression, max_gap=self.params.memory_max_gap)
                            for name in self._cameras}
            except ValueError as err:
                self.diagnostics.warn("expression_rejected", f"model rejected expression "
                                      f"{shorten(repr(expression))}: {shorten(err)}")
                continue
            accepted.append(expression)
            for name, session in sessions.items():
                self._cameras[name].tracks.append(Track(expression, session))
        if not accepted or accepted == self._active:
            self._drop_tracks(self._active)
            return
        self._drop_tracks(accepted)
        self._active = accepted
        shown = LIST_JOINER.join(accepted)
        logger.info("active expression%s: %s", "s" if len(accepted) > 1 else "", shorten(repr(shown)))
        self._on_expression(shown)

    def _drop_tracks(self, keep: list[str]) -> None:
        """Keep the tracks of ``keep``, in its order; each stream that ends counts as ``memory_resets_expression``."""
        for camera in self._cameras.values():
            by_expression = {track.expression: track for track in camera.tracks
                             if track.expression in self._active or track.expression in keep}
            ended = sum(1 for expression in self._active if expression not in keep)
            if ended:
                self.diagnostics.count("memory_resets_expression", ended)  # nothing of those streams is kept
            camera.tracks = [by_expression[expression] for expression in keep]

    def _prepare(self, camera: _Camera, pending: _Pending) -> _Ready | None:
        """The frame checked (expression in force, age) and decoded; None (warned, counted) if skipped."""
        if not camera.tracks:
            self.diagnostics.warn("frame_without_expression", "frame dropped: no expression yet "
                                  "(publish one on the expression topic)")
            return None
        if pending.load is not None:
            pending.msg = pending.load()  # the transport counts and drops what it cannot deserialize
            if pending.msg is None:
                return None
        stamp, now = stamp_seconds(pending.msg.header), self._clock()
        if self.params.max_frame_age and stamp > 0 and now <= 0:  # sim time before the first /clock message
            self.diagnostics.warn("frame_age_unchecked", "frame age not checked: the node clock reads 0 "
                                  "(use_sim_time and no /clock message yet?)")
        age = camera.frame_age.age(now - stamp) if stamp > 0 and now > 0 else 0.0
        if self.params.max_frame_age and camera.frame_age.mode == "clock" and abs(age) > _OTHER_CLOCK_SECONDS:
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
        return _Ready(camera, pending.msg, rgb, stamp if stamp > 0 else None, pending.arrival,
                      self._monotonic() - started)

    def _predict(self, ready: list[_Ready]) -> list[list[Any]]:
        """Every track's prediction for its camera's frame, in one ``step_batch`` (the predictor resizes for the
        model; masks come back at the frames' sizes). The same rgb object for a camera's expressions tells the
        predictor to encode that frame once.

        Returns:
            per frame of ``ready``, the predictions of its camera's tracks in order.
        """
        sessions, images, stamps = [], [], []
        for frame in ready:
            for track in frame.camera.tracks:
                sessions.append(track.session)
                images.append(frame.rgb)
                stamps.append(frame.stamp)
        step_batch = getattr(self._predictor, "step_batch", None)
        if len(sessions) == 1 or step_batch is None:
            flat = [session.step(image, stamp) for session, image, stamp in zip(sessions, images, stamps)]
        else:
            flat = step_batch(sessions, images, stamps)
        self.diagnostics.count("batches")
        per_frame, start = [], 0
        for frame in ready:
            per_frame.append(flat[start:start + len(frame.camera.tracks)])
            start += len(frame.camera.tracks)
        return per_frame

    def _result(self, frame: _Ready, predictions: list[Any]) -> FrameResult:
        """Hysteresis, geometry and 3D of each expression's prediction on one camera frame."""
        predicted = self._monotonic()
        targets, depth_seconds = [], 0.0
        for track, prediction in zip(frame.camera.tracks, predictions):
            for reason, count in track.new_resets().items():
                self.diagnostics.count(f"memory_resets_{reason}", count)
                logger.info("temporal memory reset (%s)", reason.replace("_", " "))
            found = track.update(float(prediction.score), bool(prediction.found), prediction.target_id,
                                 self.params.score_smoothing, self.params.found_after, self.params.lost_after)
            mask = np.asarray(prediction.mask, dtype=bool) if found else _empty_mask(frame.rgb.shape[:2])
            box, centroid, area = _geometry(mask, getattr(prediction, "box", None) if found else None)
            target_3d = None
            if self.params.use_depth and found:
                located = self._monotonic()
                target_3d = self._locate(frame.camera, frame.msg.header, mask, box)
                depth_seconds += self._monotonic() - located
            targets.append(TargetResult(track.expression, found, track.score, mask, box, centroid, area,
                                        track.target_id if found else 0, target_3d))
        timings = {**dict(predictions[0].timings), "decode": frame.decode,
                   "track": self._monotonic() - predicted - depth_seconds}
        if self.params.use_depth:
            timings["depth"] = depth_seconds
        return FrameResult(header=frame.msg.header, camera=frame.camera.name, targets=tuple(targets),
                           latency=self._monotonic() - frame.arrival, timings=timings, rgb=frame.rgb)

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

    def _locate(self, camera: _Camera, header: Any, mask: np.ndarray,
                box: tuple[float, float, float, float]) -> Target3D | None:
        """The found target in 3D; None with a rate-limited warning and a counter when depth is unusable."""
        try:
            depth, camera_info = camera.depth.pair(stamp_seconds(header))
            target_3d = locate_target(mask, depth, camera_info, self._depth_config, box)
        except DepthError as err:
            self.diagnostics.warn(err.kind, f"no 3D for this frame: {err}")
            return None
        self.diagnostics.count("targets_3d")
        return target_3d


def _depth_config(params: NodeParams) -> DepthConfig:
    """The 3D estimation settings among the node parameters."""
    return DepthConfig(erosion=params.depth_erosion, outlier_mads=params.depth_outlier_mads,
                       min_points=params.depth_min_points, extent_percentile=params.depth_extent_percentile)


@functools.lru_cache(maxsize=8)
def _empty_mask(shape: tuple[int, int]) -> np.ndarray:
    """A read-only all-False (H, W) mask, one per frame size: a target not found allocates nothing."""
    mask = np.zeros(shape, dtype=bool)
    mask.flags.writeable = False
    return mask


def _geometry(mask: np.ndarray, edges: tuple[float, float, float, float] | None = None
              ) -> tuple[tuple[float, float, float, float] | None, tuple[float, float] | None, int]:
    """Box (inclusive pixel bounds), centroid (x, y) and area of a (H, W) bool mask.

    Bounds from row/column ``any`` (or from ``edges``, the predictor's box of this mask: (x_min, y_min,
    x_max + 1, y_max + 1) pixel edges), centroid and area from the sums inside the box: no index arrays
    (``np.nonzero`` cost 10-30 ms on a 1080p mask; this well under 1.5 ms).
    """
    if edges is not None:
        x_min, y_min, x_max, y_max = int(edges[0]), int(edges[1]), int(edges[2]) - 1, int(edges[3]) - 1
    else:
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
