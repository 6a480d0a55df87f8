"""Counters behind ``GET /sim/stats``: what reached the simulated upstream and how it ended.

Tests read these to prove that a client (usually the service) let go of an upstream request:
``cancelled_streams`` grows when the client closes the connection before the answer ended.
The server runs greenlets on one thread and these updates never yield, so plain ints suffice.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

__all__ = ["Outcome", "SimStats"]


class Outcome:
    """How one generation ended."""

    COMPLETED = "completed"  # every byte of the answer was written
    CANCELLED = "cancelled"  # the client left before the end
    FAULTED = "faulted"  # an injected fault ended it (cut, error chunk, stall limit)


class SimStats:
    """Live counts for one simulator process."""

    def __init__(self) -> None:
        self.requests = 0
        self.open_streams = 0
        self.tokens_sent = 0
        # The W3C ``traceparent`` of the latest request, to check a client propagates its trace.
        self.last_traceparent: str | None = None
        self._ended: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    def request_arrived(self, traceparent: str | None = None) -> int:
        """Count a chat-completion request; returns its sequence number (1-based)."""
        self.requests += 1
        self.last_traceparent = traceparent
        return self.requests

    def fault_injected(self, kind: str) -> None:
        self._faults[kind] += 1

    def generation_started(self) -> None:
        self.open_streams += 1

    def generation_ended(self, outcome: str, tokens: int) -> None:
        self.open_streams -= 1
        self.tokens_sent += tokens
        self._ended[outcome] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "open_streams": self.open_streams,
            "completed_streams": self._ended[Outcome.COMPLETED],
            "cancelled_streams": self._ended[Outcome.CANCELLED],
            "faulted_streams": self._ended[Outcome.FAULTED],
            "tokens_sent": self.tokens_sent,
            "last_traceparent": self.last_traceparent,
            "faults_injected": dict(self._faults),
        }
