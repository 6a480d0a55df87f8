"""A small circuit breaker, so a slow or dead Redis costs one time-out, not one per request.

After a failure the backend is skipped for ``cooldown_seconds``; the first call after that is
the probe: success closes the breaker, failure opens it again. Lookups meanwhile answer
"uncached" at once, which keeps the service responsive during an outage.
"""

from __future__ import annotations

import threading
import time

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Skips a failing or slow Redis for a cooldown, then lets one call probe it again."""

    def __init__(self, cooldown_seconds: float) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._open_until = 0.0
        self._last_error = ""
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """Whether to try the backend now (closed, or cool-down over: probe)."""
        return time.monotonic() >= self._open_until

    @property
    def is_open(self) -> bool:
        return self._open_until > 0.0

    @property
    def last_error(self) -> str:
        return self._last_error

    def seconds_left(self) -> float:
        return max(0.0, self._open_until - time.monotonic())

    def success(self) -> None:
        with self._lock:
            self._open_until = 0.0

    def failure(self, error: str) -> None:
        with self._lock:
            self._last_error = error
            self._open_until = time.monotonic() + self.cooldown_seconds
