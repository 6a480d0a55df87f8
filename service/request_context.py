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
from contextvars import ContextVar
from typing import Any

from flask import Flask, Request, Response, g, has_request_context, request
from flask.ctx import _AppCtxGlobals
from opentelemetry import trace

from otel import semconv
from otel.flask_tracing import start_server_span_at
from service.errors import Unauthorized
from service.settings import Settings
from service.timings import ARRIVED, StreamTimings

__all__ = ["RequestIdFilter", "bound_g", "bound_request", "init_app", "streaming_request_id"]

_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_TENANT_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Routes that API keys guard; stats and metrics join them with CHAT_PROTECT_STATS=1.
_CHAT_PREFIXES = ("/api/chat", "/v1/")
_STATS_PREFIXES = ("/api/cache/stats", "/api/openai/stats", "/metrics")
# The id of the answer whose body is being written: a streamed body runs after Flask's request
# context has ended (it is not re-entered for the body: that cost a second push, URL match and
# teardown per request), so its log lines take the id from here.
streaming_request_id: ContextVar[str] = ContextVar("chatperf.streaming_request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = (g.get("request_id", "-") if has_request_context()
                             else streaming_request_id.get())
        return True


def bound_request() -> Request:
    """The current request itself: read attributes of it, not of Flask's ``request`` proxy,
    which looks the request up again (a context-variable read and two calls) on every one."""
    return request._get_current_object()  # type: ignore[attr-defined]


def bound_g() -> _AppCtxGlobals:
    """The current ``g`` itself (see ``bound_request``)."""
    return g._get_current_object()


def _needs_key(path: str, settings: Settings) -> bool:
    if not settings.api_keys:
        return False
    if path.startswith(_CHAT_PREFIXES):
        return True
    return settings.protect_stats and path.startswith(_STATS_PREFIXES)


def _presented_key(environ: dict[str, Any]) -> str | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _check_key(settings: Settings, environ: dict[str, Any]) -> str | None:
    """The matching configured key, compared in constant time; raise 401 otherwise."""
    presented = _presented_key(environ)
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
        # The request and g bound once: every proxy lookup costs a context-variable read.
        bound = bound_request()
        environ = bound.environ
        scope = bound_g()
        timings = scope.timings = StreamTimings.from_environ(environ)
        if ARRIVED in environ:  # the server span starts where the timings do
            start_server_span_at(environ, timings.started_epoch_ns)
        # The raw header values, as ``request.headers`` gives them.
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        scope.request_id = incoming if _ID_PATTERN.match(incoming) else uuid.uuid4().hex
        tenant_header = environ.get("HTTP_X_TENANT", "")
        tenant = tenant_header if _TENANT_PATTERN.match(tenant_header) else ""
        key = _check_key(settings, environ) if _needs_key(bound.path, settings) else None
        if key is not None:
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            tenant = f"key-{digest}/{tenant}" if tenant else f"key-{digest}"
            scope.client_id = f"key:{digest}"
        else:
            scope.client_id = f"addr:{bound.remote_addr}"
        scope.tenant = tenant or "public"

    @app.after_request
    def _echo(response: Response) -> Response:
        request_id = g.get("request_id", "")
        response.headers["X-Request-ID"] = request_id
        if request_id:
            trace.get_current_span().set_attribute(semconv.ATTR_REQUEST_ID, request_id)
        return response
