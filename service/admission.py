"""Backpressure and graceful shutdown: a per-worker cap on open answers, and an end to them.

A worker that already streams ``CHAT_MAX_STREAMS_PER_WORKER`` answers refuses the next with
503 and ``Retry-After`` instead of queueing it without bound. On SIGTERM it refuses every new
answer, lets the open ones run for ``CHAT_SHUTDOWN_GRACE_SECONDS``, and past that deadline the
stream writers end what is left with an ``error`` event ``shutting_down``.
"""

from __future__ import annotations

import threading
import time

from service.errors import Overloaded

__all__ = ["Admission"]


class Admission:
    """Counts this worker's open answers and admits or refuses new ones."""

    def __init__(self, max_open: int) -> None:
        self._max_open = max_open
        self._open = 0
        self._lock = threading.Lock()
        self._draining = threading.Event()
        self._deadline: float | None = None

    @property
    def open(self) -> int:
        return self._open

    @property
    def limit(self) -> int:
        return self._max_open

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def admit(self) -> None:
        """Take a slot or raise ``Overloaded``; pair with ``release`` (``call_on_close``)."""
        if self._draining.is_set():
            raise Overloaded("the service is shutting down; retry shortly", retry_after=1)
        with self._lock:
            if self._open >= self._max_open:
                raise Overloaded(
                    f"this worker is streaming its limit of {self._max_open} answers",
                    retry_after=1,
                )
            self._open += 1

    def release(self) -> None:
        with self._lock:
            self._open = max(0, self._open - 1)

    def begin_shutdown(self, grace_seconds: float) -> None:
        """Refuse new answers from now on; open ones may run ``grace_seconds`` more."""
        self._deadline = time.monotonic() + grace_seconds
        self._draining.set()

    def past_deadline(self) -> bool:
        """Whether open answers must end now (shutdown grace is over)."""
        return self._deadline is not None and time.monotonic() >= self._deadline
