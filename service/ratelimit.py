"""Optional per-client rate limit (``CHAT_RATE_LIMIT``, e.g. ``60/minute``) on the chat routes.

A fixed window per client: simple, cheap and predictable for clients (``Retry-After`` is the time
to the next window). It counts per client identity (``g.client_id``: the API key when keys are
on, else the client address), never per tenant header, which a client can rotate for free.
Counters live in Redis when ``REDIS_URL`` is set, so every worker and instance shares them;
otherwise in this process. A Redis failure lets the request through — a broken limiter must not
take the service down with it — and opens a circuit breaker, so an outage costs one time-out per
cool-down rather than one per request, and is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from flask import Flask, g, request

from service.cache.breaker import CircuitBreaker
from service.errors import RateLimited
from service.redis_connect import REDIS_ERRORS, LazyRedis
from service.settings import RateLimit, Settings

__all__ = ["RateLimiter", "init_app"]

log = logging.getLogger(__name__)

_LIMITED_PREFIXES = ("/api/chat", "/v1/chat/")


class RateLimiter:
    """Counts requests per client and window; raises ``RateLimited`` past the limit."""

    def __init__(self, limit: RateLimit, redis_url: str | None, namespace: str,
                 timeout_ms: int, breaker_seconds: float = 5.0) -> None:
        self.limit = limit
        self._prefix = f"{namespace}:ratelimit"
        self._redis = LazyRedis(redis_url, timeout_ms / 1000) if redis_url else None
        self._local: dict[str, int] = {}
        self._lock = threading.Lock()
        self._breaker = CircuitBreaker(breaker_seconds)
        self._outage = False

    def _count_in_redis(self, redis: LazyRedis, key: str) -> int | None:
        """The window's count, or None while Redis is failing (the request goes through)."""
        if not self._breaker.allow():
            return None
        try:
            pipe = redis.client().pipeline()
            pipe.incr(key)
            pipe.expire(key, self.limit.period_seconds + 1)
            count = int(pipe.execute()[0])
        except REDIS_ERRORS as exc:
            self._breaker.failure(type(exc).__name__)
            if not self._outage:
                self._outage = True
                log.warning("rate limit not applied while Redis fails (%s); retrying every "
                            "%.0f s", type(exc).__name__, self._breaker.cooldown_seconds)
            return None
        self._breaker.success()
        if self._outage:
            self._outage = False
            log.warning("rate limit applied again: Redis is back")
        return count

    def _count(self, key: str, window: int) -> int:
        if self._redis is not None:
            return self._count_in_redis(self._redis, key) or 0
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
    """Limit the chat routes per client (API key, else address) when a limit is configured."""
    limit = settings.rate_limit_spec
    if limit is None:
        return
    limiter = RateLimiter(limit, settings.redis_url,
                          settings.cache_namespace, settings.cache_timeout_ms,
                          settings.cache_breaker_seconds)

    @app.before_request
    def _limit() -> None:
        if request.path.startswith(_LIMITED_PREFIXES):
            limiter.check(g.client_id)
