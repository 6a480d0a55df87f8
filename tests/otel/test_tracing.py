"""One trace per streamed request: span tree, parentage, timing order and attributes.

An in-process app with in-memory span export, served by a real threaded HTTP server (the
streaming behaviour only exists when a server writes the body), against the simulator process.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator, Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from loadtests.processes import ManagedProcess, start_simulator
from loadtests.workload import PACK_FILE
from otel import semconv
from otel.testing import Recording, recording_telemetry, serve_wsgi, wait_until
from service.app import create_app
from service.settings import Settings
from service.sse import iter_events
from tests.support import stream_chat

FAST_MODEL = "gpt-4o-mini"


def _settings(upstream: ManagedProcess, **overrides: object) -> Settings:
    return Settings.from_env(
        {}, openai_base_url=f"{upstream.url}/v1", prewarm=False, log_level="WARNING",
        **overrides,
    )


@pytest.fixture
def traced(simulator: ManagedProcess) -> Iterator[tuple[str, Recording]]:
    """The service with spans kept in memory, over real HTTP, against the fast simulator."""
    settings = _settings(simulator)
    recording = recording_telemetry(settings)
    with serve_wsgi(create_app(settings, recording.telemetry)) as url:
        yield url, recording
    recording.telemetry.shutdown()


def _question() -> str:
    return f"How do I reset my password on device {uuid.uuid4().hex[:8]}?"


def _trace(recording: Recording, trace_id: int) -> list[ReadableSpan]:
    """The finished spans of one trace, once its server span (the last to end) is there."""

    def spans() -> list[ReadableSpan]:
        found = [s for s in recording.spans.get_finished_spans()
                 if s.context.trace_id == trace_id]
        return found if any(s.kind is SpanKind.SERVER for s in found) else []

    return wait_until(spans)


def _trace_id_of(response: httpx.Response) -> int:
    return int(response.headers[semconv.HEADER_TRACE_RESPONSE].split("-")[1], 16)


def _by_name(spans: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    names = [s.name for s in spans]
    assert len(names) == len(set(names)), names
    return {s.name: s for s in spans}


def _server(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    return server


def _assert_tree(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    """Every span hangs directly under the server span and lies within it; returns it."""
    server = _server(spans)
    for span in spans:
        assert span.context.trace_id == server.context.trace_id
        if span is not server:
            assert span.parent is not None and span.parent.span_id == server.context.span_id, span
            assert server.start_time <= span.start_time
            assert span.end_time <= server.end_time, f"{span.name} ends after the server span"
    return server


def test_miss_is_one_trace_covering_the_stream(
    traced: tuple[str, Recording], simulator: ManagedProcess
) -> None:
    url, recording = traced
    response, events = stream_chat(url, {"message": _question(), "model": "fast"})
    assert [e.event for e in events][-1] == "done"
    trace_id = _trace_id_of(response)
    assert events[-1].json()["trace_id"] == f"{trace_id:032x}"

    spans = _trace(recording, trace_id)
    by_name = _by_name(spans)
    genai = semconv.genai_span_name(FAST_MODEL)
    assert set(by_name) == {
        _server(spans).name, semconv.SPAN_CACHE_LOOKUP, semconv.SPAN_FIRST_TOKEN,
        semconv.SPAN_FULL_RESPONSE, genai, semconv.SPAN_CACHE_STORE,
    }
    server = _assert_tree(spans)
    assert server.parent is None
    assert server.attributes[semconv.ATTR_REQUEST_ID] == response.headers["X-Request-ID"]

    first, full = by_name[semconv.SPAN_FIRST_TOKEN], by_name[semconv.SPAN_FULL_RESPONSE]
    assert first.start_time == full.start_time
    assert first.end_time <= full.end_time <= server.end_time
    # The server span now covers the body; the stock instrumentation ended it at the view's return.
    assert server.end_time - server.start_time >= full.end_time - full.start_time
    done_timings = events[-1].json()["timings"]
    assert (first.end_time - first.start_time) / 1e6 == pytest.approx(done_timings["ttft_ms"],
                                                                        abs=0.01)

    lookup = by_name[semconv.SPAN_CACHE_LOOKUP].attributes
    assert lookup[semconv.ATTR_CACHE_HIT] is False
    assert lookup[semconv.ATTR_CACHE_BACKEND] == "memory"
    assert semconv.ATTR_CACHE_TIER not in lookup

    client = by_name[genai]
    assert client.kind is SpanKind.CLIENT
    usage = events[-1].json()["usage"]
    expected = {
        semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_CHAT,
        semconv.GEN_AI_REQUEST_MODEL: FAST_MODEL,
        semconv.GEN_AI_RESPONSE_MODEL: FAST_MODEL,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: usage["input_tokens"],
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage["output_tokens"],
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: simulator.port,
    }
    assert {key: client.attributes.get(key) for key in expected} == expected
    assert full.attributes[semconv.ATTR_CACHE_HIT] is False
    assert full.attributes[semconv.ATTR_MODEL_TIER] == "fast"
    assert full.status.status_code is StatusCode.UNSET


def test_hit_replays_in_one_trace_without_upstream(traced: tuple[str, Recording]) -> None:
    url, recording = traced
    question = _question()
    stream_chat(url, {"message": question})
    response, events = stream_chat(url, {"message": question})
    assert events[0].json()["cache"] == "hit"

    spans = _trace(recording, _trace_id_of(response))
    _assert_tree(spans)
    by_name = _by_name(spans)
    assert not any(name.startswith(semconv.GEN_AI_OPERATION_CHAT + " ") for name in by_name)
    assert semconv.SPAN_CACHE_STORE not in by_name
    lookup = by_name[semconv.SPAN_CACHE_LOOKUP].attributes
    assert lookup[semconv.ATTR_CACHE_HIT] is True
    assert lookup[semconv.ATTR_CACHE_TIER] == "exact"
    assert lookup[semconv.ATTR_CACHE_SIMILARITY] == pytest.approx(1.0)
    first, full = by_name[semconv.SPAN_FIRST_TOKEN], by_name[semconv.SPAN_FULL_RESPONSE]
    assert first.end_time <= full.end_time
    assert full.attributes[semconv.ATTR_CACHE_HIT] is True


def test_incoming_traceparent_is_continued_and_sent_upstream(
    traced: tuple[str, Recording], simulator: ManagedProcess
) -> None:
    url, recording = traced
    trace_hex, parent_hex = secrets.token_hex(16), secrets.token_hex(8)
    response, events = stream_chat(
        url, {"message": _question()}, headers={"traceparent": f"00-{trace_hex}-{parent_hex}-01"}
    )
    sent_upstream = httpx.get(f"{simulator.url}/sim/stats", timeout=10).json()["last_traceparent"]

    assert response.headers[semconv.HEADER_TRACE_RESPONSE].split("-")[1] == trace_hex
    assert events[-1].json()["trace_id"] == trace_hex
    spans = _trace(recording, int(trace_hex, 16))
    server = _server(spans)
    assert server.parent is not None and server.parent.span_id == int(parent_hex, 16)
    assert server.parent.is_remote
    client = _by_name(spans)[semconv.genai_span_name(FAST_MODEL)]
    # The upstream sees our trace, with the GenAI client span as its parent.
    assert sent_upstream == f"00-{trace_hex}-{client.context.span_id:016x}-01"


def test_upstream_error_marks_spans() -> None:
    failing = start_simulator("fast", extra_args=["--fault", "status-500"])
    try:
        settings = _settings(failing, upstream_max_retries=1)
        recording = recording_telemetry(settings)
        with serve_wsgi(create_app(settings, recording.telemetry)) as url:
            response, events = stream_chat(url, {"message": _question(), "model": "fast"})
        recording.telemetry.shutdown()
    finally:
        failing.stop()
    assert response.status_code == 200
    assert events[-1].event == "error"
    code = events[-1].json()["code"]

    spans = _trace(recording, _trace_id_of(response))
    server = _assert_tree(spans)
    by_name = _by_name(spans)
    client = by_name[semconv.genai_span_name(FAST_MODEL)]
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes[semconv.ERROR_TYPE] == code
    assert [e.name for e in client.events] == ["retry"]
    full = by_name[semconv.SPAN_FULL_RESPONSE]
    assert full.status.status_code is StatusCode.ERROR
    assert full.attributes[semconv.ERROR_TYPE] == code
    assert server.status.status_code is StatusCode.ERROR
    assert server.attributes[semconv.ERROR_TYPE] == code
    assert semconv.SPAN_FIRST_TOKEN not in by_name
    assert semconv.SPAN_CACHE_STORE not in by_name


def test_client_leaving_mid_stream_ends_the_trace(traced: tuple[str, Recording]) -> None:
    url, recording = traced
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", f"{url}/api/chat/stream",
        json={"message": "Compare the fast and smart plans in detail, with examples, "
                         f"then explain the trade-offs of each ({uuid.uuid4().hex[:6]}).",
              "model": "smart"},
    ) as response:
        seen = []
        for event in iter_events(response.iter_lines()):
            seen.append(event.event)
            if event.event == "token":
                break  # leave after the first token; the service notices on its next write
    assert seen == ["meta", "token"]

    spans = wait_until(lambda: _trace(recording, _trace_id_of(response)), 15)
    server = _assert_tree(spans)
    by_name = _by_name(spans)
    full = by_name[semconv.SPAN_FULL_RESPONSE]
    assert full.status.status_code is StatusCode.ERROR
    assert full.attributes[semconv.ERROR_TYPE] == "cancelled"
    client_span = by_name[semconv.genai_span_name("gpt-4o")]
    assert client_span.attributes[semconv.ERROR_TYPE] == "cancelled"
    assert by_name[semconv.SPAN_FIRST_TOKEN].end_time <= full.end_time <= server.end_time
    assert semconv.SPAN_CACHE_STORE not in by_name


def test_prewarm_is_its_own_trace_linked_to_the_request(simulator: ManagedProcess) -> None:
    # The reference product's pack: its categories' follow-ups are what pre-warm generates.
    settings = _settings(simulator).replace(prewarm=True, cache_pack=str(PACK_FILE))
    recording = recording_telemetry(settings)
    with serve_wsgi(create_app(settings, recording.telemetry)) as url:
        response, events = stream_chat(url, {"message": "How much does the pro plan cost?"})
        request_trace = _trace_id_of(response)

        def prewarms() -> list[ReadableSpan]:
            return [s for s in recording.spans.get_finished_spans()
                    if s.name == semconv.SPAN_CACHE_PREWARM]

        spans = wait_until(prewarms, 10)
    recording.telemetry.shutdown()
    assert events[-1].event == "done"
    assert spans
    server = _server(_trace(recording, request_trace))
    for prewarm in spans:
        assert prewarm.parent is None and prewarm.context.trace_id != request_trace
        assert [link.context.trace_id for link in prewarm.links] == [request_trace]
        assert prewarm.links[0].context.span_id == server.context.span_id
        children = [s for s in recording.spans.get_finished_spans()
                    if s.parent is not None and s.parent.span_id == prewarm.context.span_id]
        assert [s.kind for s in children] == [SpanKind.CLIENT]
