"""Diagnostic counters and rate-limited warnings: bad input is counted and reported, never fatal.

The counters are also published the ROS way, as ``diagnostic_msgs/DiagnosticArray`` on ``/diagnostics``:
:func:`diagnostic_array` builds that message from a snapshot of the counters, for any transport.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Callable

from vatex_ros.echo import MAX_ECHO, shorten
from vatex_ros.messages.idl import DiagnosticArray, DiagnosticStatus, Header, KeyValue, Time

# Counters a DiagnosticArray always carries (0 until they happen), so a monitor sees every one of them.
# Faults among them turn the status to WARN for the period in which they grew.
TRAFFIC_COUNTERS = ("frames_in", "frames_out", "frames_replaced", "expressions_in", "depth_in", "camera_info_in",
                    "batches", "targets_3d", "memory_resets_expression", "memory_resets_time_gap",
                    "memory_resets_stamp_backwards", "memory_resets_frame_size")
FAULT_COUNTERS = ("frame_too_old", "frame_clock_mismatch", "frame_age_unchecked", "frame_without_expression",
                  "bad_image", "image_too_large", "image_downscaled", "inference_error", "publish_error",
                  "expression_not_utf8", "expression_empty", "expression_truncated", "expression_rejected",
                  "expressions_dropped", "bad_depth", "depth_missing", "depth_out_of_tolerance",
                  "depth_size_mismatch", "depth_no_valid_points", "depth_not_finite", "camera_info_missing",
                  "camera_info_invalid", "camera_info_distortion", "camera_info_size_mismatch", "image_undecodable",
                  "expression_undecodable", "depth_undecodable", "camera_info_undecodable", "clock_undecodable",
                  "samples_lost", "samples_rejected", "udp_datagrams_dropped")
_QUIET_FAULTS = frozenset({"frames_replaced", "image_downscaled", "expression_truncated"})  # never WARN alone


class Diagnostics:
    """Counts events by kind and logs at most one warning per kind every ``interval`` seconds.

    Args:
        logger: where warnings go.
        interval: minimum seconds between two warnings of the same kind (0 = log every time).
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(self, logger: logging.Logger, interval: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._logger = logger
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._last_warned: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, kind: str, n: int = 1) -> None:
        """Count ``n`` events that need no warning."""
        with self._lock:
            self._counts[kind] += n

    def warn(self, kind: str, message: str, n: int = 1) -> None:
        """Count ``n`` events of ``kind`` and log ``message`` (shortened) unless one was logged < interval ago."""
        with self._lock:
            self._counts[kind] += n
            now = self._clock()
            last = self._last_warned.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] += 1
                return
            self._last_warned[kind] = now
            suppressed, self._suppressed[kind] = self._suppressed[kind], 0
        note = f" ({suppressed} more since last report)" if suppressed else ""
        self._logger.warning("%s [%s, %d so far]%s", shorten(message, 4 * MAX_ECHO), kind, self._counts[kind], note)

    def counts(self) -> dict[str, int]:
        """Snapshot of all counters."""
        with self._lock:
            return dict(self._counts)


def diagnostic_array(counts: Mapping[str, int], stamp: Time, name: str, hardware_id: str = "",
                     previous: Mapping[str, int] | None = None) -> DiagnosticArray:
    """A ``diagnostic_msgs/DiagnosticArray`` with one status holding every counter.

    Args:
        counts: the counters (:meth:`Diagnostics.counts`); known ones missing from it are reported as 0.
        stamp: header stamp (the node clock's now).
        name: the status name, by convention the node's full name (``vatex_node``).
        hardware_id: e.g. the host or the camera; may be empty.
        previous: the counters at the last publication; a fault counter that grew since makes the level WARN.

    Returns:
        One DiagnosticStatus: level OK or WARN, a one-line summary, and a KeyValue per counter (sorted).
    """
    values = {**dict.fromkeys(TRAFFIC_COUNTERS + FAULT_COUNTERS, 0), **counts}
    before = previous or {}
    grown = sorted(k for k, v in values.items() if k.rsplit(".", 1)[-1] not in TRAFFIC_COUNTERS  # "head.frames_in"
                   and k not in _QUIET_FAULTS and v > before.get(k, 0))
    level = DiagnosticStatus.WARN if grown else DiagnosticStatus.OK
    summary = f"{values['frames_in']} frames in, {values['frames_out']} answered"
    if grown:
        summary += "; new faults: " + ", ".join(grown)
    status = DiagnosticStatus(level=level, name=name, message=shorten(summary), hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=str(v)) for k, v in sorted(values.items())])
    return DiagnosticArray(header=Header(stamp=stamp), status=[status])
