"""The server span and HTTP server metrics of every kind of request, against a recorded golden.

``server_telemetry.json`` beside this file was captured from ``opentelemetry-instrumentation-flask``
(0.66b1, default semantic conventions) before chatperf's own server tracing replaced it: the
replacement must produce the same telemetry — span names, kinds, attributes, parents, status,
the ``traceresponse`` header, which URLs are untraced, and the ``http.server.*`` metrics with
their attributes, units, buckets and counts. Values that differ by run (ports, trace ids, the
user agent's version, durations) are normalised; what they must equal is asserted first.

One deliberate difference since: ``http.server.active_requests`` carries no exemplars. It is an
observable count now (``otel.live_count``, issue 26), and a trace sampled at a request's +1 or
-1 said nothing about how many were in flight.

Refresh the golden (only when the telemetry is meant to change) with
``python -m tests.otel.test_server_telemetry``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint, NumberDataPoint

from loadtests.processes import ManagedProcess, start_simulator
from otel import semconv
from otel.testing import Recording, recording_telemetry, serve_wsgi, wait_until
from service.app import create_app
from service.settings import Settings

GOLDEN = Path(__file__).with_name("server_telemetry.json")
_TRACE_HEX, _PARENT_HEX = secrets.token_hex(16), secrets.token_hex(8)
_CHAT = {"message": "How do I reset my password on the router?", "model": "fast"}
_OPENAI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi twice."}]}
# (label, method, path, JSON body, extra headers)
_REQUESTS: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("miss, remote parent, query", "POST", "/api/chat/stream?from=test", _CHAT, {
        "traceparent": f"00-{_TRACE_HEX}-{_PARENT_HEX}-01", "tracestate": "vendor=1",
        "baggage": "user=alice"}),
    ("hit", "POST", "/api/chat/stream", _CHAT, {}),
    ("openai stream", "POST", "/v1/chat/completions", {**_OPENAI, "stream": True}, {}),
    ("openai json", "POST", "/v1/chat/completions", _OPENAI, {}),
    ("stats", "GET", "/api/cache/stats", None, {}),
    ("bad input", "POST", "/api/chat/stream", {"message": ""}, {}),
    ("unknown path", "GET", "/no/such/page", None, {}),
    ("wrong method", "DELETE", "/api/chat/stream", None, {}),
    ("odd method", "PURGE", "/api/cache/stats", None, {}),
    ("forwarded", "GET", "/api/cache/stats", None, {
        "Host": "chat.example.com:8443", "X-Forwarded-For": "203.0.113.9",
        "User-Agent": "probe/1.0"}),
    ("health", "GET", "/healthz", None, {}),
    ("ready", "GET", "/readyz", None, {}),
    ("metrics", "GET", "/metrics", None, {}),
    ("page", "GET", "/ui/", None, {}),
    # Only the path decides what is untraced: a query naming an untraced path changes nothing.
    ("query naming an untraced path", "POST", "/api/chat/stream?x=metrics", _CHAT, {}),
]


def _normal(value: Any, ports: set[int]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value in ports:
        return "<port>"
    if isinstance(value, str):
        for port in ports:
            value = value.replace(f":{port}", ":<port>")
        if value.startswith("python-httpx/"):
            return "python-httpx/<version>"
        return value
    if isinstance(value, tuple | list):
        return [_normal(item, ports) for item in value]
    return value


def _attributes(attributes: Any, ports: set[int]) -> dict[str, Any]:
    shown = {key: _normal(value, ports) for key, value in sorted(dict(attributes or {}).items())}
    if semconv.ATTR_REQUEST_ID in shown:  # made per request; test_tracing checks its value
        shown[semconv.ATTR_REQUEST_ID] = "<id>"
    return shown


def _exemplar_keys(point: Any) -> list[list[str]]:
    """Which dropped attributes the point's exemplars carry (which exemplars a reservoir keeps
    depends on timing, so only their distinct key sets), and that each names a span."""
    keys = set()
    for exemplar in point.exemplars:
        assert exemplar.span_id is not None and exemplar.trace_id is not None
        keys.add(tuple(sorted(exemplar.filtered_attributes or {})))
    return sorted(list(k) for k in keys)


def capture(url: str, recording: Recording) -> dict[str, Any]:
    """Send every request of ``_REQUESTS`` in turn; what each one's server span and response
    header were, and the ``http.server.*`` metrics at the end, normalised."""
    server_port = int(url.rsplit(":", 1)[1])
    requests: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for label, method, path, body, headers in _REQUESTS:
            recording.spans.clear()
            with client.stream(method, path, json=body, headers=headers) as response:
                response.read()
            header = response.headers.get(semconv.HEADER_TRACE_RESPONSE)
            servers = wait_until(lambda: [s for s in recording.spans.get_finished_spans()
                                          if s.parent is None or s.parent.is_remote],
                                 timeout_seconds=0.5 if header is None else 5.0)
            entry: dict[str, Any] = {"label": label, "status": response.status_code,
                                     "traceresponse": header is not None, "spans": []}
            for span in servers:
                assert span.end_time is not None and span.start_time is not None
                ports = {server_port}
                for key in ("net.peer.port", "client.port"):
                    if key in (span.attributes or {}):
                        ports.add(int(span.attributes[key]))  # type: ignore[arg-type]
                assert header == (f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"
                                  f"-{int(span.context.trace_flags):02x}")
                parent = None
                if span.parent is not None:
                    assert span.parent.trace_id == int(_TRACE_HEX, 16)
                    assert span.parent.span_id == int(_PARENT_HEX, 16)
                    parent = {"remote": span.parent.is_remote,
                              "trace_state": str(span.parent.trace_state.to_header())}
                scope = span.instrumentation_scope
                assert scope is not None
                entry["spans"].append({
                    "name": span.name, "kind": span.kind.name, "parent": parent,
                    "scope": [scope.name, scope.schema_url],
                    "status": [span.status.status_code.name, span.status.description],
                    "attributes": _attributes(span.attributes, ports),
                    "events": [event.name for event in span.events],
                })
            requests.append(entry)
    return {"requests": requests, "metrics": _metrics(recording, server_port)}


def _metrics(recording: Recording, server_port: int) -> list[dict[str, Any]]:
    data = recording.metrics.get_metrics_data()
    found: list[dict[str, Any]] = []
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if not metric.name.startswith("http.server"):
                    continue
                points = []
                for point in metric.data.data_points:
                    shown: dict[str, Any] = {
                        "attributes": _attributes(point.attributes, {server_port}),
                        "exemplars": _exemplar_keys(point)}
                    if isinstance(point, HistogramDataPoint):
                        shown.update(count=point.count, bounds=list(point.explicit_bounds))
                    elif isinstance(point, NumberDataPoint):
                        shown.update(value=point.value)
                    points.append(shown)
                points.sort(key=lambda p: json.dumps(p, sort_keys=True))
                found.append({
                    "name": metric.name, "unit": metric.unit,
                    "description": metric.description, "type": type(metric.data).__name__,
                    "scope": [scope_metrics.scope.name, scope_metrics.scope.schema_url],
                    "points": points,
                })
    return sorted(found, key=lambda m: m["name"])


def _settings(upstream: ManagedProcess) -> Settings:
    return Settings.from_env({}, openai_base_url=f"{upstream.url}/v1", prewarm=False,
                             log_level="WARNING", proxy_hops=1)


@pytest.fixture(scope="module")
def captured(simulator: ManagedProcess) -> Iterator[dict[str, Any]]:
    recording = recording_telemetry(_settings(simulator))
    app = create_app(_settings(simulator), recording.telemetry)
    with serve_wsgi(app) as url:
        yield capture(url, recording)
    recording.telemetry.shutdown()


@pytest.mark.parametrize("index", range(len(_REQUESTS)), ids=[r[0] for r in _REQUESTS])
def test_each_request_has_the_recorded_server_span(captured: dict[str, Any], index: int) -> None:
    golden = json.loads(GOLDEN.read_text())
    assert captured["requests"][index] == golden["requests"][index]


def test_http_server_metrics_are_the_recorded_ones(captured: dict[str, Any]) -> None:
    assert captured["metrics"] == json.loads(GOLDEN.read_text())["metrics"]


if __name__ == "__main__":
    simulator = start_simulator("fast", extra_args=["--seed", "7"])
    try:
        recording = recording_telemetry(_settings(simulator))
        with serve_wsgi(create_app(_settings(simulator), recording.telemetry)) as url:
            result = capture(url, recording)
        recording.telemetry.shutdown()
    finally:
        simulator.stop()
    GOLDEN.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
