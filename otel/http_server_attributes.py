"""The attributes of an HTTP server span and of the ``http.server.*`` metrics, from a WSGI environ.

These are the (pre-1.21, "default") HTTP semantic conventions that
``opentelemetry-instrumentation-flask`` 0.66 reported before ``otel/flask_tracing.py`` replaced it:
same keys, same values, same rules for what is left out, so dashboards and queries keep working.
Each dict is built once per request, straight from the environ.
"""

from __future__ import annotations

from typing import Any
from wsgiref.util import request_uri

from opentelemetry.trace import StatusCode

__all__ = [
    "METHOD",
    "ROUTE",
    "STATUS_CODE",
    "TARGET",
    "entry_attributes",
    "sanitize_method",
    "span_attributes",
    "span_name",
    "status_code_of",
]

METHOD = "http.method"
STATUS_CODE = "http.status_code"
TARGET = "http.target"
ROUTE = "http.route"
_HOST = "http.host"
_SCHEME = "http.scheme"
_FLAVOR = "http.flavor"
_SERVER_NAME = "http.server_name"
_NET_HOST_NAME = "net.host.name"
_NET_HOST_PORT = "net.host.port"

# RFC 9110/5789 methods and QUERY; anything else is reported as "_OTHER" (no label explosion).
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                            "TRACE", "PATCH", "QUERY"})
_SYNTHETIC_TEST = ("alwayson",)
_SYNTHETIC_BOT = ("googlebot", "bingbot")


def sanitize_method(method: str) -> str:
    method = method.upper()
    return method if method in _KNOWN_METHODS else "_OTHER"


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def entry_attributes(environ: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the metrics carry, from the environ as the server handed it over (before any proxy
    fix): ``(active_requests attributes, duration attributes without the status)``."""
    active: dict[str, Any] = {}
    method = sanitize_method(environ.get("REQUEST_METHOD", "").strip())
    if method:
        active[METHOD] = method
    server_name = environ.get("SERVER_NAME")
    if server_name is not None:
        active[_SERVER_NAME] = server_name
    scheme = environ.get("wsgi.url_scheme")
    if scheme:
        active[_SCHEME] = scheme
    host = environ.get("HTTP_HOST")
    if host:
        active[_HOST] = host
    flavor = _flavor(environ)
    if flavor:
        active[_FLAVOR] = flavor
    duration = dict(active)
    if host:
        duration[_NET_HOST_NAME] = host
    port = _int_or_none(environ.get("SERVER_PORT"))
    if port:
        duration[_NET_HOST_PORT] = port
    return active, duration


def _flavor(environ: dict[str, Any]) -> str:
    flavor: str = environ.get("SERVER_PROTOCOL", "")
    if flavor.upper().startswith("HTTP/"):
        flavor = flavor[5:]
    return flavor


def span_attributes(environ: dict[str, Any], route: str | None) -> dict[str, Any]:
    """The server span's attributes at its start (the status is added at the response)."""
    attributes, _ = entry_attributes(environ)
    if attributes.get(_HOST):
        attributes[_NET_HOST_NAME] = attributes[_HOST]
    port = _int_or_none(environ.get("SERVER_PORT"))
    if port:
        attributes[_NET_HOST_PORT] = port
    target = environ.get("RAW_URI")
    if target is None:
        target = environ.get("REQUEST_URI")
    if target:
        attributes[TARGET] = target
    else:  # gunicorn and werkzeug both set RAW_URI
        attributes["http.url"] = request_uri(environ)
    remote_addr = environ.get("REMOTE_ADDR")
    if remote_addr:
        attributes["net.peer.ip"] = remote_addr
    peer_port = _int_or_none(environ.get("REMOTE_PORT"))
    if peer_port:
        attributes["net.peer.port"] = peer_port
    remote_host = environ.get("REMOTE_HOST")
    if remote_host and remote_host != remote_addr:
        attributes["net.peer.name"] = remote_host
    user_agent = environ.get("HTTP_USER_AGENT")
    if user_agent:
        if isinstance(user_agent, bytes | bytearray):
            user_agent = user_agent.decode("latin-1")
        attributes["http.user_agent"] = user_agent
        lowered = user_agent.lower()
        if any(pattern in lowered for pattern in _SYNTHETIC_TEST):
            attributes["user_agent.synthetic.type"] = "test"
        elif any(pattern in lowered for pattern in _SYNTHETIC_BOT):
            attributes["user_agent.synthetic.type"] = "bot"
    if route:
        attributes[ROUTE] = route
    return attributes


def span_name(environ: dict[str, Any], route: str | None) -> str:
    """``METHOD route``; without a route ``METHOD path``; ``HTTP`` for an unknown method."""
    method = sanitize_method(environ.get("REQUEST_METHOD", "").strip())
    if method == "_OTHER":
        return f"HTTP {route}" if route is not None else "HTTP"
    if route is not None:
        return f"{method} {route}"
    path = environ.get("PATH_INFO", "").strip()
    return f"{method} {path}" if method and path else method


def status_code_of(status: str) -> tuple[int, StatusCode]:
    """The response's code and the server span's status for it (5xx and non-HTTP codes are
    errors; -1 for a status line without a number)."""
    try:
        code = int(status.split(" ", 1)[0])
    except ValueError:
        return -1, StatusCode.ERROR
    return code, StatusCode.ERROR if code < 100 or code >= 500 else StatusCode.UNSET
