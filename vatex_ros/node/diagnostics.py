"""Diagnostic counters and rate-limited warnings: bad input is counted and reported, never fatal."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Callable


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

    def count(self, kind: str) -> None:
        """Count an event that needs no warning."""
        with self._lock:
            self._counts[kind] += 1

    def warn(self, kind: str, message: str) -> None:
        """Count an event of ``kind`` and log ``message`` unless one was logged < interval ago."""
        with self._lock:
            self._counts[kind] += 1
            now = self._clock()
            last = self._last_warned.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] += 1
                return
            self._last_warned[kind] = now
            suppressed, self._suppressed[kind] = self._suppressed[kind], 0
        note = f" ({suppressed} more since last report)" if suppressed else ""
        self._logger.warning("%s [%s, %d so far]%s", message, kind, self._counts[kind], note)

    def counts(self) -> dict[str, int]:
        """Snapshot of all counters."""
        with self._lock:
            return dict(self._counts)
