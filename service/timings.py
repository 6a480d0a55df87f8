"""Raw timestamps of one streamed answer, and the figures derived from them.

The streaming loop only records ``time.monotonic()`` marks here; TTFT, cache time and total time
are derived properties. The service's ``done`` event, its spans and the load runner's own
client-side measurements all use this record, so every figure means the same everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ARRIVED", "StreamTimings"]

# The WSGI environ key under which the server (``service.worker``) stamps a request's arrival:
# ``(time.monotonic(), time.time_ns())``.
ARRIVED = "chatperf.arrived"


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000.0, 3)


@dataclass
class StreamTimings:
    """Monotonic marks of one request; ``None`` until the moment happened. ``started`` is the
    request's arrival at the server (``from_environ``), else this record's creation."""

    started: float = field(default_factory=time.monotonic)
    started_epoch_ns: int = field(default_factory=time.time_ns)
    meta: float | None = None
    cache_checked: float | None = None
    upstream_sent: float | None = None
    upstream_first_token: float | None = None
    first_token: float | None = None
    finished: float | None = None
    tokens: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> StreamTimings:
        """Timings starting at the arrival the server stamped (``ARRIVED``), or now when it
        stamped none (another WSGI server)."""
        arrived = environ.get(ARRIVED)
        return cls(*arrived) if arrived is not None else cls()

    def mark(self, name: str) -> float:
        """Record ``name`` now (only the first time) and return its mark."""
        now = time.monotonic()
        if getattr(self, name) is None:
            setattr(self, name, now)
        return getattr(self, name)

    def epoch_ns(self, mark: float) -> int:
        """Wall-clock nanoseconds of a monotonic mark (for span timestamps)."""
        return self.started_epoch_ns + round((mark - self.started) * 1e9)

    @property
    def cache_ms(self) -> float | None:
        return _ms(self.started, self.cache_checked)

    @property
    def meta_ms(self) -> float | None:
        return _ms(self.started, self.meta)

    @property
    def ttft_ms(self) -> float | None:
        """Perceived response: the request's arrival to the first content token written."""
        return _ms(self.started, self.first_token)

    @property
    def upstream_ttft_ms(self) -> float | None:
        return _ms(self.upstream_sent, self.upstream_first_token)

    @property
    def service_overhead_s(self) -> float | None:
        """What the service added to this request's TTFT beyond its own upstream call's TTFT:
        from the request's arrival to the upstream request's bytes on the wire, plus from the
        bytes holding the upstream's first token read off the wire to ours written; never
        negative, since the upstream's first token arrives before ours is written."""
        first, sent = self.first_token, self.upstream_sent
        upstream_first = self.upstream_first_token
        if first is None or sent is None or upstream_first is None:
            return None
        # (time before the call went out) + (time from its first token to ours being written)
        return (sent - self.started) + (first - upstream_first)

    @property
    def total_ms(self) -> float | None:
        return _ms(self.started, self.finished)

    @property
    def inter_token_ms(self) -> float | None:
        """Mean gap between tokens after the first."""
        if self.tokens < 2 or self.first_token is None or self.finished is None:
            return None
        return round((self.finished - self.first_token) * 1000.0 / (self.tokens - 1), 3)

    def as_dict(self) -> dict[str, float | None]:
        """The ``timings`` object of the ``done`` event."""
        return {"cache_ms": self.cache_ms, "ttft_ms": self.ttft_ms, "total_ms": self.total_ms}
