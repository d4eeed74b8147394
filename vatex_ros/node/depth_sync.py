"""Approximate-time pairing of colour frames with depth images and CameraInfo, over bounded buffers."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from vatex_ros.node.depth import DepthError


def stamp_seconds(header: Any) -> float:
    """A std_msgs/Header's stamp in seconds."""
    return header.stamp.sec + header.stamp.nanosec * 1e-9


class DepthSync:
    """Keeps the newest depth images and CameraInfos; pairs a colour stamp with the nearest of each.

    Both buffers are bounded (the oldest message is dropped), so a stalled consumer never grows memory.
    Depth must lie within ``tolerance`` of the colour stamp; CameraInfo is taken nearest to the depth's
    stamp without a limit, since intrinsics describe the camera, not the frame (drivers may publish them
    slower). Among equally near messages the newest wins. Thread-safe: transports add from their
    callbacks while the worker pairs.

    Args:
        size: messages kept per buffer.
        tolerance: largest |colour stamp - depth stamp| in seconds.
    """

    def __init__(self, size: int, tolerance: float):
        self.tolerance = tolerance
        self._depth: deque[Any] = deque(maxlen=size)
        self._info: deque[Any] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add_depth(self, msg: Any) -> None:
        """Buffer a sensor_msgs/Image depth message."""
        with self._lock:
            self._depth.append(msg)

    def add_camera_info(self, msg: Any) -> None:
        """Buffer a sensor_msgs/CameraInfo."""
        with self._lock:
            self._info.append(msg)

    def pair(self, stamp: float) -> tuple[Any, Any]:
        """Depth image and CameraInfo for a colour frame stamped ``stamp`` seconds.

        Raises:
            DepthError: ``depth_missing``, ``depth_out_of_tolerance`` or ``camera_info_missing``.
        """
        with self._lock:
            depths, infos = list(self._depth), list(self._info)
        if not depths:
            raise DepthError("depth_missing", "no depth image received yet (is `depth` remapped to the aligned "
                             "depth topic?)")
        depth = _nearest(depths, stamp)
        gap = abs(stamp_seconds(depth.header) - stamp)
        if gap > self.tolerance:
            raise DepthError("depth_out_of_tolerance", f"nearest depth image is {gap:.3f} s from the frame "
                             f"(> depth_sync_tolerance {self.tolerance} s)")
        if not infos:
            raise DepthError("camera_info_missing", "no CameraInfo received yet (is `camera_info` remapped to the "
                             "depth image's camera_info?)")
        return depth, _nearest(infos, stamp_seconds(depth.header))


def _nearest(messages: list[Any], stamp: float) -> Any:
    """The message stamped nearest ``stamp``; the newest (last) among ties."""
    gaps = [abs(stamp_seconds(m.header) - stamp) for m in messages]
    best = min(gaps)
    return messages[max(i for i, gap in enumerate(gaps) if gap == best)]
