"""The service's HTTP server telemetry: one server span per request, to its last byte, and the
``http.server.*`` metrics — what ``opentelemetry-instrumentation-flask`` reported, for less.

The stock instrumentation cost about a quarter of a cache hit's CPU (docs/performance.md): it
built the request's attributes twice, went through generic helpers and context managers, and
ended a streamed response's span before the body was written (we had to take it over anyway).
This module makes the same telemetry directly (``tests/otel/test_server_telemetry.py`` holds it
to a golden recorded from the instrumentation):

- a WSGI wrapper around the app counts ``http.server.active_requests`` and records
  ``http.server.duration`` (milliseconds, to the view's return: time to headers for a stream),
  with the attributes of the environ as the server handed it over;
- a ``before_request`` hook extracts the W3C trace context (the global propagator:
  ``traceparent``/``tracestate``, ``baggage``) and starts the server span — at the request's
  arrival if ``start_server_span_at`` ran first — with the same name and attributes;
- the response's status goes on the span when the headers go out, with the W3C
  ``traceresponse`` header, so a client or load test can link what it saw to the trace;
- the span ends in ``teardown_request``, or for a streamed response from its ``call_on_close``:
  after the last event was written, or when the WSGI server noticed the client went away. The
  server iterates and closes the body in the thread (or greenlet) that ran the view, so the
  span's context stays current for the whole stream.

Requests whose path matches ``excluded_urls`` (comma-separated regular expressions searched in
the path, never the query: a client cannot untrace its own request with ``?x=metrics``) get no
span and no duration; they are still counted as active.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from time import time_ns
from timeit import default_timer
from typing import Any

from flask import Flask, Response, request
from opentelemetry import context, propagate, trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from otel import semconv
from otel.http_server_attributes import (
    STATUS_CODE,
    TARGET,
    entry_attributes,
    span_attributes,
    span_name,
    status_code_of,
)
from otel.live_count import LiveCount

__all__ = ["instrument_app", "start_server_span_at", "traceresponse_value"]

# The instrumentation scope the stock instrumentation reported (with its schema), kept so that
# queries selecting on it keep working.
_SCOPE = "opentelemetry.instrumentation.flask"
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.11.0"
# Per-request state in the environ: the span's start, the span, whether the URL is traced, and
# whether the span ends with the streamed body instead of at teardown.
_START = "chatperf.server_span.start_ns"
_STATE = "chatperf.server_span"
_TRACED = "chatperf.server_span.traced"
_STREAMED = "chatperf.server_span.streamed"


def traceresponse_value(span_context: trace.SpanContext) -> str:
    """``traceresponse`` header value (W3C Trace Context level 2): version-trace-span-flags."""
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{int(span_context.trace_flags):02x}"
    )


def start_server_span_at(environ: dict[str, Any], epoch_ns: int) -> None:
    """Start the request's server span at ``epoch_ns`` (its arrival at the WSGI server), not
    when the app first saw it: the request's own spans are timed from its arrival, and none may
    start before its parent. Must run before the span starts (a ``before_request`` registered
    before ``instrument_app``)."""
    environ[_START] = epoch_ns


class _EnvironGetter(Getter[dict[str, Any]]):
    """Request headers out of a WSGI environ, for the propagators."""

    def get(self, carrier: dict[str, Any], key: str) -> list[str] | None:
        value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
        return [value] if value is not None else None

    def keys(self, carrier: dict[str, Any]) -> list[str]:
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


_GETTER = _EnvironGetter()


class _ServerSpan:
    """One request's span and the context tokens that made it current."""

    __slots__ = ("outer", "route", "span", "token")

    def __init__(self, span: trace.Span, outer: object | None, token: object,
                 route: str | None) -> None:
        self.span = span
        self.outer = outer  # the extracted remote context's token (a server span only)
        self.token = token  # the span made current
        self.route = route

    def end(self, exc: BaseException | None = None) -> None:
        context.detach(self.token)  # type: ignore[arg-type]
        if exc is not None and self.span.is_recording():
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.span.end()
        if self.outer is not None:
            context.detach(self.outer)  # type: ignore[arg-type]


class _Excluded:
    """URLs that get no span: a regular expression per comma-separated item."""

    def __init__(self, excluded_urls: str) -> None:
        items = [item.strip() for item in excluded_urls.split(",")] if excluded_urls else []
        self._regex = re.compile("|".join(items)) if items else None

    def __call__(self, url: str) -> bool:
        return self._regex is not None and self._regex.search(url) is not None


class _Telemetry:
    """The hooks and the WSGI wrapper, sharing one tracer, two instruments, one exclusion."""

    def __init__(self, tracer: trace.Tracer, active: LiveCount, duration: Histogram,
                 excluded: _Excluded) -> None:
        self._tracer = tracer
        self._active = active
        self._duration = duration
        self._excluded = excluded

    def wrap(self, wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        active, duration = self._active, self._duration
        traced_url = self._traced_url

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            environ[_START] = time_ns()
            start = default_timer()
            active_attributes, duration_attributes = entry_attributes(environ)
            active.add(1, active_attributes)
            traced = True

            def on_headers(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
                nonlocal traced
                state = environ.get(_STATE)
                traced = state is not None or traced_url(environ)
                if traced:
                    code, _ = status_code_of(status)
                    if code >= 0:
                        duration_attributes[STATUS_CODE] = code
                    if state is not None:
                        _on_response(state.span, status)
                        route = state.route
                    else:  # stopped before the span (a 401, a 429): measured all the same
                        route = str(request.url_rule) if request.url_rule else None
                    if route is not None:
                        duration_attributes[TARGET] = route
                return start_response(status, headers, *args)

            try:
                result = wsgi_app(environ, on_headers)
                if traced:
                    state = environ.get(_STATE)
                    measured: Context | None = (
                        trace.set_span_in_context(state.span) if state is not None else None)
                    duration.record(max(round((default_timer() - start) * 1000), 0),
                                    duration_attributes, context=measured)
                return result
            finally:
                active.add(-1, active_attributes)

        return app

    def _traced_url(self, environ: dict[str, Any]) -> bool:
        """Whether the request (which may not have reached ``before_request``) is traced."""
        traced = environ.get(_TRACED)
        if traced is None:
            traced = not self._excluded(request.path)
        return bool(traced)

    def before_request(self) -> None:
        bound = request._get_current_object()  # type: ignore[attr-defined]  # one lookup
        environ = bound.environ
        if self._excluded(bound.path):
            environ[_TRACED] = False
            return
        environ[_TRACED] = True
        rule = bound.url_rule
        route = rule.rule if rule is not None else None
        attributes: dict[str, AttributeValue] = span_attributes(environ, route)
        outer = None
        if trace.get_current_span() is trace.INVALID_SPAN:
            parent = propagate.extract(environ, getter=_GETTER)
            outer = context.attach(parent)
            kind = trace.SpanKind.SERVER
        else:
            parent = context.get_current()
            kind = trace.SpanKind.INTERNAL
        span = self._tracer.start_span(span_name(environ, route), parent, kind,
                                       attributes=attributes, start_time=environ.get(_START))
        token = context.attach(trace.set_span_in_context(span))
        environ[_STATE] = _ServerSpan(span, outer, token, str(rule) if rule else None)

    @staticmethod
    def after_request(response: Response) -> Response:
        environ = request.environ
        state: _ServerSpan | None = environ.get(_STATE)
        if state is None:
            return response
        span_context = state.span.get_span_context()
        if span_context.is_valid:
            response.headers[semconv.HEADER_TRACE_RESPONSE] = traceresponse_value(span_context)
        if response.is_streamed:
            # Ended from the body's close, not at teardown (before the body is written).
            environ[_STREAMED] = True
            response.call_on_close(state.end)
        return response

    @staticmethod
    def teardown_request(exc: BaseException | None) -> None:
        environ = request.environ
        state: _ServerSpan | None = environ.get(_STATE)
        if state is not None and not environ.get(_STREAMED):
            state.end(exc)


def _on_response(span: trace.Span, status: str) -> None:
    if not span.is_recording():
        return
    code, status_code = status_code_of(status)
    if code < 0:
        span.set_status(Status(StatusCode.ERROR,
                               "Non-integer HTTP status: " + status.split(" ", 1)[0]))
        return
    span.set_attribute(STATUS_CODE, code)
    span.set_status(Status(status_code))


def instrument_app(
    app: Flask,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    excluded_urls: str,
) -> None:
    """Trace every request of ``app`` (but ``excluded_urls``), streams to their last byte."""
    meter = meter_provider.get_meter(_SCOPE, schema_url=_SCHEMA_URL)
    telemetry = _Telemetry(
        tracer_provider.get_tracer(_SCOPE, schema_url=_SCHEMA_URL),
        LiveCount(
            meter, "http.server.active_requests", unit="requests",
            description="Measures the number of concurrent HTTP requests that are currently "
                        "in-flight.",
            keys=semconv.HTTP_SERVER_METRIC_ATTRIBUTES),
        meter.create_histogram(
            "http.server.duration", unit="ms",
            description="Measures the duration of inbound HTTP requests."),
        _Excluded(excluded_urls),
    )
    app.wsgi_app = telemetry.wrap(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(telemetry.before_request)
    app.after_request(telemetry.after_request)
    app.teardown_request(telemetry.teardown_request)
