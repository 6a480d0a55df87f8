"""Every error the service answers with, mapped to its HTTP status and JSON code in one table.

Request errors become ``{"error": {"code", "message", "type", "param"}}`` (``type`` and
``param`` make the body an OpenAI-style error too, so OpenAI clients parse it). Upstream failures
that happen once a stream has begun become an SSE ``error`` event instead; ``UpstreamFailure``
carries what that event needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

__all__ = [
    "INTERNAL_FAILURE",
    "SHUTTING_DOWN",
    "ApiError",
    "BodyTimeout",
    "InvalidBody",
    "InvalidJSON",
    "Overloaded",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthorized",
    "UnsupportedMediaType",
    "UpstreamFailure",
    "ValidationFailed",
    "api_error_response",
    "error_body",
    "init_app",
]


class ApiError(Exception):
    """A request the service refuses; subclasses fix the status and code."""

    status = 400
    code = "bad_request"
    error_type = "invalid_request_error"

    def __init__(
        self, message: str, *, param: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after


class InvalidJSON(ApiError):
    """Raised when the body is not valid JSON or not a JSON object."""

    status, code = 400, "invalid_json"


class InvalidBody(ApiError):
    """Raised when a body's framing is broken (a chunk size that is not hexadecimal, a malformed
    trailer): the rest of the connection cannot be read, so it is closed."""

    status, code = 400, "invalid_body"


class BodyTimeout(ApiError):
    """Raised when a request body stops arriving before ``CHAT_BODY_TIMEOUT_SECONDS``."""

    status, code = 408, "body_timeout"


class Unauthorized(ApiError):
    """Raised when API keys are configured and the request has none or a wrong one."""

    status, code, error_type = 401, "unauthorized", "authentication_error"


class PayloadTooLarge(ApiError):
    """Raised when the body exceeds ``CHAT_MAX_BODY_BYTES``, before it is read."""

    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    """Raised when a POST body is not ``application/json``."""

    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    """Raised when the JSON is well formed but a field is missing, empty, too long or unknown.

    422 on chatperf's own API; the OpenAI-compatible routes answer it with 400, as OpenAI does.
    """

    status, code = 422, "invalid_request"


class RateLimited(ApiError):
    """Raised when a client exceeds ``CHAT_RATE_LIMIT``; carries ``Retry-After``."""

    status, code, error_type = 429, "rate_limited", "rate_limit_error"


class Overloaded(ApiError):
    """Raised when a worker already holds its cap of open streams, or is shutting down."""

    status, code, error_type = 503, "overloaded", "server_error"


@dataclass(frozen=True)
class UpstreamFailure(Exception):
    """The upstream LLM failed; becomes an SSE ``error`` event or an OpenAI-style error."""

    code: str  # upstream_timeout | upstream_rate_limited | upstream_unavailable | ...
    message: str
    retryable: bool
    http_status: int = 502
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def event_data(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


# Ends an answer whose own code failed (a bug): the client gets a clear end, never a silent cut.
INTERNAL_FAILURE = UpstreamFailure(
    "internal_error", "the service failed while answering; this is a bug", retryable=False,
    http_status=500,
)

# Sent to streams still open when the shutdown grace is over.
SHUTTING_DOWN = UpstreamFailure(
    "shutting_down", "the service is restarting; ask again", retryable=True, http_status=503
)


def error_body(
    code: str, message: str, error_type: str = "invalid_request_error", param: str | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "type": error_type, "param": param}}


def api_error_response(exc: ApiError, status: int | None = None) -> Response:
    """The JSON error response of ``exc`` (``status`` overrides its own, for /v1's 400)."""
    response = jsonify(error_body(exc.code, exc.message, exc.error_type, exc.param))
    response.status_code = status or exc.status
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, BodyTimeout | InvalidBody | PayloadTooLarge):
        # The rest of the body may still arrive, or cannot be framed: the connection ends
        # (service/worker.py makes gunicorn honour this header).
        response.headers["Connection"] = "close"
    return response


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, exc.name.lower().replace(" ", "_"))
    response = jsonify(error_body(code, exc.description or exc.name))
    response.status_code = status
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def _unexpected_error_response(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    response = jsonify(error_body("internal_error", "the service failed; this is a bug",
                                  "server_error"))
    response.status_code = 500
    return response


def init_app(app: Flask) -> None:
    """Answer every refused request with the JSON error body, never an HTML page."""
    app.register_error_handler(ApiError, api_error_response)
    app.register_error_handler(HTTPException, _http_error_response)
    app.register_error_handler(Exception, _unexpected_error_response)
