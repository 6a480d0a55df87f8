"""What every request carries, bound once: its id, tenant, start time and authentication.

The request id comes from a valid incoming ``X-Request-ID`` or is made here; it goes back in the
response header, into every log line (``RequestIdFilter``) and into the ``meta`` event. The
tenant scopes the cache: with API keys configured it is derived from the key, so one client can
never read another's cached answers by sending someone else's ``X-Tenant``. The tenant is a
scope, not an identity: ``g.client_id`` (the key's digest, else the client address) is what a
client cannot change for free, and what the rate limit counts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid

from flask import Flask, Response, g, has_request_context, request
from opentelemetry import trace

from otel import semconv
from otel.flask_tracing import start_server_span_at
from service.errors import Unauthorized
from service.settings import Settings
from service.timings import ARRIVED, StreamTimings

__all__ = ["RequestIdFilter", "init_app"]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TENANT_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Routes that API keys guard; stats and metrics join them with CHAT_PROTECT_STATS=1.
_CHAT_PREFIXES = ("/api/chat", "/v1/")
_STATS_PREFIXES = ("/api/cache/stats", "/api/openai/stats", "/metrics")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _needs_key(path: str, settings: Settings) -> bool:
    if not settings.api_keys:
        return False
    if path.startswith(_CHAT_PREFIXES):
        return True
    return settings.protect_stats and path.startswith(_STATS_PREFIXES)


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _check_key(settings: Settings) -> str | None:
    """The matching configured key, compared in constant time; raise 401 otherwise."""
    presented = _presented_key()
    if presented is None:
        raise Unauthorized("this route needs 'Authorization: Bearer <key>'")
    for key in settings.api_keys:
        if hmac.compare_digest(presented.encode(), key.encode()):
            return key
    raise Unauthorized("the API key is not valid")


def init_app(app: Flask, settings: Settings) -> None:
    """Bind id, tenant and timings before each request; echo the id after it."""

    @app.before_request
    def _bind() -> None:
        g.timings = StreamTimings.from_environ(request.environ)
        if ARRIVED in request.environ:  # the server span starts where the timings do
            start_server_span_at(request.environ, g.timings.started_epoch_ns)
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _ID_PATTERN.match(incoming) else uuid.uuid4().hex
        tenant_header = request.headers.get("X-Tenant", "")
        tenant = tenant_header if _TENANT_PATTERN.match(tenant_header) else ""
        key = _check_key(settings) if _needs_key(request.path, settings) else None
        if key is not None:
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            tenant = f"key-{digest}/{tenant}" if tenant else f"key-{digest}"
            g.client_id = f"key:{digest}"
        else:
            g.client_id = f"addr:{request.remote_addr}"
        g.tenant = tenant or "public"

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id", "")
        response.headers["X-Request-ID"] = request_id
        if request_id:
            trace.get_current_span().set_attribute(semconv.ATTR_REQUEST_ID, request_id)
        return response
