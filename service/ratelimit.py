"""Optional per-client rate limit (``CHAT_RATE_LIMIT``, e.g. ``60/minute``) on the chat routes.

A fixed window per client: simple, cheap and predictable for clients (``Retry-After`` is the time
to the next window). Counters live in Redis when ``REDIS_URL`` is set, so every worker and
instance shares them; otherwise in this process. A Redis failure lets the request through — a
broken limiter must not take the service down with it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass

import redis
from flask import Flask, g, request

from service.errors import RateLimited
from service.settings import Settings, SettingsError

__all__ = ["RateLimit", "RateLimiter", "init_app"]

log = logging.getLogger(__name__)

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")
_LIMITED_PREFIXES = ("/api/chat", "/v1/chat/")


@dataclass(frozen=True)
class RateLimit:
    """``count`` requests per ``period_seconds`` window."""

    count: int
    period_seconds: int

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        match = _SPEC.match(spec)
        if not match or int(match.group(1)) < 1:
            raise SettingsError(
                f"CHAT_RATE_LIMIT={spec!r}: use N/second, N/minute, N/hour or N/day"
            )
        return cls(int(match.group(1)), _PERIODS[match.group(2)])


class RateLimiter:
    """Counts requests per client and window; raises ``RateLimited`` past the limit."""

    def __init__(self, limit: RateLimit, redis_url: str | None, namespace: str,
                 timeout_ms: int) -> None:
        self.limit = limit
        self._prefix = f"{namespace}:ratelimit"
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=timeout_ms / 1000,
                                 socket_connect_timeout=timeout_ms / 1000)
            if redis_url else None
        )
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, window: int) -> int:
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline()
                pipe.incr(key)
                pipe.expire(key, self.limit.period_seconds + 1)
                return int(pipe.execute()[0])
            except redis.RedisError as exc:
                log.warning("rate limit not applied: Redis failed (%s)", type(exc).__name__)
                return 0
        with self._lock:
            if len(self._local) > 100_000:  # old windows are dead weight
                current = f":{window}"
                self._local = {k: v for k, v in self._local.items() if k.endswith(current)}
            self._local[key] = self._local.get(key, 0) + 1
            return self._local[key]

    def check(self, client: str) -> None:
        now = time.time()
        window = int(now // self.limit.period_seconds)
        digest = hashlib.sha256(client.encode()).hexdigest()[:16]
        if self._count(f"{self._prefix}:{digest}:{window}", window) > self.limit.count:
            retry_after = (window + 1) * self.limit.period_seconds - now
            raise RateLimited(
                f"more than {self.limit.count} requests per {self.limit.period_seconds} s; "
                "slow down", retry_after=retry_after,
            )


def init_app(app: Flask, settings: Settings) -> None:
    """Limit the chat routes per client (tenant, else address) when a limit is configured."""
    if not settings.rate_limit:
        return
    limiter = RateLimiter(RateLimit.parse(settings.rate_limit), settings.redis_url,
                          settings.cache_namespace, settings.cache_timeout_ms)

    @app.before_request
    def _limit() -> None:
        if request.path.startswith(_LIMITED_PREFIXES):
            tenant = g.get("tenant", "public")
            client = tenant if tenant != "public" else f"addr:{request.remote_addr}"
            limiter.check(client)
