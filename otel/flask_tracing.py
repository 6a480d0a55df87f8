"""Flask server spans that cover a streamed body, not just the view.

``opentelemetry-instrumentation-flask`` opens the server span in ``before_request`` and ends it
in ``teardown_request``. For a streamed response Flask runs that teardown when the view returns,
before the WSGI server has written a byte of the body, so spans made while the stream is produced
would start new traces. ``instrument_app`` keeps the instrumentation but, for a streamed response,
takes the span's activation out of the request environ (the teardown then leaves it alone) and
ends it from the response's ``call_on_close``: after the last event was written, or when the WSGI
server noticed the client went away. The WSGI server iterates and closes the body in the thread
(or greenlet) that ran the view, so the span's context stays current for the whole stream.

Every traced response also carries the W3C ``traceresponse`` header, so a client or load test
can link what it saw to the trace.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import Token
from typing import Any

from flask import Flask, Response, request
from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.flask import (
    _ENVIRON_ACTIVATION_KEY,
    _ENVIRON_STARTTIME_KEY,
    _ENVIRON_TOKEN,
    FlaskInstrumentor,
)
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from otel import semconv

__all__ = ["instrument_app", "start_server_span_at", "traceresponse_value"]


def traceresponse_value(span_context: trace.SpanContext) -> str:
    """``traceresponse`` header value (W3C Trace Context level 2): version-trace-span-flags."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def start_server_span_at(environ: dict[str, Any], epoch_ns: int) -> None:
    """Start the request's server span at ``epoch_ns`` (its arrival at the WSGI server), not
    when the instrumentation first saw it: the request's own spans are timed from its arrival,
    and none may start before its parent. Must run before the instrumentation's
    ``before_request`` hook (a ``before_request`` registered before ``instrument_app``)."""
    environ[_ENVIRON_STARTTIME_KEY] = epoch_ns


def _end_later(
    activation: AbstractContextManager[Any], token: Token[Context] | None
) -> Callable[[], None]:
    def end() -> None:
        activation.__exit__(None, None, None)  # ends the server span, restores the context
        if token is not None:
            context.detach(token)

    return end


def _after_request(response: Response) -> Response:
    span = trace.get_current_span()
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return response
    response.headers[semconv.HEADER_TRACE_RESPONSE] = traceresponse_value(span_context)
    if response.is_streamed:
        activation = request.environ.pop(_ENVIRON_ACTIVATION_KEY, None)
        token = request.environ.pop(_ENVIRON_TOKEN, None)
        if activation is not None:
            response.call_on_close(_end_later(activation, token))
    return response


def instrument_app(
    app: Flask,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    excluded_urls: str,
) -> None:
    """Trace every request of ``app`` (but ``excluded_urls``), streams to their last byte."""
    FlaskInstrumentor().instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider,
        excluded_urls=excluded_urls,
        # The SQL commenter attaches a context it never detaches; we have no SQL.
        enable_commenter=False,
    )
    app.after_request(_after_request)
