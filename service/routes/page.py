"""The chat page at ``/``, its static files, and the beacon that reports what the page measured.

The page is plain HTML, CSS and JavaScript served by the service itself (no build step, no CDN,
so it works offline). It measures perceived latency where it is perceived — from the user's send
to the frame that shows the first and the last answer text — and sends both with
``navigator.sendBeacon`` to ``POST /api/client/timings``. That endpoint is open even when
``CHAT_API_KEYS`` is set (a beacon cannot carry an ``Authorization`` header), so it accepts only
two bounded numbers and one of two labels, refuses everything else with a 4xx JSON error, and is
rate-limited per address (``CHAT_CLIENT_TIMINGS_RATE_LIMIT``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app
from flask.blueprints import BlueprintSetupState

from otel import semconv
from service.body import read_json_body
from service.components import components
from service.errors import ValidationFailed
from service.ratelimit import RateLimiter
from service.request_context import bound_request
from service.settings import RateLimit

__all__ = ["MAX_PAINT_MS", "bp", "parse_client_timings"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
bp = Blueprint("page", __name__, static_folder=str(STATIC_DIR), static_url_path="/ui")

# A beacon is a few dozen bytes; anything near this is not from the page.
_MAX_BEACON_BYTES = 512
# Ten minutes: longer than any answer the service lets run, so a larger figure is not a timing.
MAX_PAINT_MS = 600_000.0
_CACHE_LABELS = {"hit": "true", "miss": "false"}
_FIELDS = {"first_paint_ms", "last_paint_ms", "cache"}
_LIMITER_KEY = "chatperf.client_timings_limiter"



@bp.record_once
def _make_limiter(state: BlueprintSetupState) -> None:
    settings = state.app.extensions["chatperf"].settings
    state.app.extensions[_LIMITER_KEY] = RateLimiter(
        RateLimit.parse(settings.client_timings_rate_limit), settings.redis_url,
        f"{settings.cache_namespace}:client-timings", settings.cache_timeout_ms,
    )


@bp.get("/")
def index() -> Response:
    """The chat page; it asks for a key first when the chat routes need one."""
    settings = components().settings
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    # The page sends history within the service's limits, and knows whether to ask for a key.
    for attribute, default, value in (
        ("data-auth", "none", "required" if settings.api_keys else "none"),
        ("data-max-history", "20", settings.max_history_messages),
        ("data-max-message-chars", "4000", settings.max_message_chars),
    ):
        html = html.replace(f'{attribute}="{default}"', f'{attribute}="{value}"', 1)
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"  # the security headers: service.headers
    return response


def _paint_ms(body: dict[str, Any], name: str) -> float:
    value = body[name]
    # bool is an int in Python; a JSON true is not a timing.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed(f"'{name}' must be a number of milliseconds", param=name)
    if not 0 < value <= MAX_PAINT_MS:
        raise ValidationFailed(f"'{name}' must be above 0 and at most {MAX_PAINT_MS:g}",
                               param=name)
    return float(value)


def parse_client_timings(body: dict[str, Any]) -> tuple[float, float | None, str]:
    """``(first paint s, last paint s or None, cache_hit label)`` from a beacon, or a 422."""
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(unknown)}", param=unknown[0])
    for name in ("first_paint_ms", "cache"):
        if name not in body:
            raise ValidationFailed(f"'{name}' is required", param=name)
    if not isinstance(body["cache"], str) or body["cache"] not in _CACHE_LABELS:
        raise ValidationFailed("'cache' must be \"hit\" or \"miss\"", param="cache")
    first = _paint_ms(body, "first_paint_ms")
    last = _paint_ms(body, "last_paint_ms") if "last_paint_ms" in body else None
    if last is not None and last < first:
        raise ValidationFailed("'last_paint_ms' must not be below 'first_paint_ms'",
                               param="last_paint_ms")
    return first / 1000, None if last is None else last / 1000, _CACHE_LABELS[body["cache"]]


@bp.post("/api/client/timings")
def client_timings() -> tuple[str, int]:
    """Record one answer's perceived latency as the page measured it; 204 when accepted."""
    bound = bound_request()
    current_app.extensions[_LIMITER_KEY].check(f"addr:{bound.remote_addr}")
    settings = components().settings
    # The beacon's own cap, whatever the framing (a chunked body once bypassed it).
    first, last, cache_hit = parse_client_timings(read_json_body(
        bound, min(_MAX_BEACON_BYTES, settings.max_body_bytes), settings.body_timeout_seconds))
    instruments = components().telemetry.instruments
    labels = {semconv.LABEL_CACHE_HIT: cache_hit}
    instruments.client_first_paint.record(first, labels)
    if last is not None:
        instruments.client_last_paint.record(last, labels)
    return "", 204
