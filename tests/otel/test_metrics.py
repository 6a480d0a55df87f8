"""DESIGN §4 metrics, as ``/metrics`` renders them after real requests: names, labels, counts.

Counts must equal the requests made, labels must be the low-cardinality sets of the contract,
and histogram edges must resolve the targets (1 s TTFT, 6.21 s mean full response).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from loadtests.processes import ManagedProcess, start_simulator
from otel import semconv
from otel.testing import Recording, recording_telemetry, serve_wsgi
from service.app import create_app
from service.settings import Settings
from tests.support import stream_chat

LATENCY_LABELS = {semconv.LABEL_CACHE_HIT, semconv.LABEL_MODEL_TIER, semconv.LABEL_ROUTE}
# What the GenAI semconv allows on gen_ai.client.* (no prompts, no ids).
GENAI_LABELS = {
    semconv.GEN_AI_OPERATION_NAME, semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_REQUEST_MODEL,
    semconv.GEN_AI_RESPONSE_MODEL, semconv.GEN_AI_TOKEN_TYPE, semconv.ERROR_TYPE,
}
MISSES, HITS = 3, 2


def _serve(upstream: ManagedProcess, **overrides: object) -> tuple[Settings, Recording]:
    settings = Settings.from_env(
        {}, openai_base_url=f"{upstream.url}/v1", prewarm=False, log_level="WARNING",
        **overrides,
    )
    return settings, recording_telemetry(settings)


@pytest.fixture(scope="module")
def after_run(simulator: ManagedProcess) -> Iterator[tuple[dict[str, Metric], Recording, set[str]]]:
    """``MISSES`` new questions then ``HITS`` repeats over SSE; the scrape that follows."""
    settings, recording = _serve(simulator)
    questions = [f"What does plan {uuid.uuid4().hex[:8]} include?" for _ in range(MISSES)]
    secrets: set[str] = set(questions)
    with serve_wsgi(create_app(settings, recording.telemetry)) as url:
        for question in [*questions, *questions[:HITS]]:
            response, events = stream_chat(url, {"message": question, "model": "fast"})
            assert events[-1].event == "done"
            secrets.add(response.headers["X-Request-ID"])
        text = httpx.get(f"{url}/metrics", timeout=10).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    yield families, recording, secrets
    recording.telemetry.shutdown()


def _samples(family: Metric, suffix: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for s in family.samples if s.name == family.name + suffix
            and all(s.labels.get(k) == v for k, v in labels.items())]


def _total(family: Metric, suffix: str = "", **labels: str) -> float:
    return sum(value for _, value in _samples(family, suffix, **labels))


@pytest.mark.parametrize(
    ("name", "edges"),
    [
        (semconv.PROM_TTFT, {0.25, 0.5, 0.75, 1.0, 1.5}),
        (semconv.PROM_RESPONSE_DURATION, {4.0, 5.0, 6.0, 6.5, 7.0, 8.0, 10.0}),
    ],
)
def test_latency_histograms(after_run, name: str, edges: set[float]) -> None:
    families, _, _ = after_run
    family = families[name]
    assert family.type == "histogram"
    counts = _samples(family, "_count")
    assert {frozenset(labels) for labels, _ in counts} == {frozenset(LATENCY_LABELS)}
    assert _total(family, "_count", route="stream") == MISSES + HITS
    assert _total(family, "_count", cache_hit="true") == HITS
    assert _total(family, "_count", cache_hit="false", model_tier="fast") == MISSES
    assert _total(family, "_sum") > 0
    bucket_edges = {float(labels["le"]) for labels, _ in _samples(family, "_bucket")}
    assert edges <= bucket_edges


def test_counters_and_gauge(after_run) -> None:
    families, _, _ = after_run
    lookups = families[semconv.PROM_CACHE_LOOKUPS.removesuffix("_total")]
    assert _total(lookups, "_total", result="hit") == HITS
    assert _total(lookups, "_total", result="miss") == MISSES
    assert {frozenset(labels) for labels, _ in _samples(lookups, "_total")} == {
        frozenset({semconv.LABEL_RESULT, semconv.LABEL_TIER})
    }
    requests = families[semconv.PROM_REQUESTS.removesuffix("_total")]
    assert _total(requests, "_total", route="stream", outcome="ok") == MISSES + HITS
    active = families[semconv.PROM_ACTIVE_STREAMS]
    assert _total(active, route="stream") == 0


def test_genai_client_metrics(after_run) -> None:
    families, _, _ = after_run
    duration = families[semconv.PROM_GENAI_OPERATION_DURATION]
    assert _total(duration, "_count", gen_ai_operation_name="chat") == MISSES
    usage = families[semconv.PROM_GENAI_TOKEN_USAGE]
    assert _total(usage, "_count", gen_ai_token_type="input") == MISSES
    assert _total(usage, "_count", gen_ai_token_type="output") == MISSES
    allowed = {key.replace(".", "_") for key in GENAI_LABELS} | {"le"}
    for family in (duration, usage):
        assert all(set(sample.labels) <= allowed for sample in family.samples)


def test_no_question_text_or_request_id_in_labels(after_run) -> None:
    families, _, secrets = after_run
    values = {v for f in families.values() for s in f.samples for v in s.labels.values()}
    assert not any(secret in value for secret in secrets for value in values)


def test_latency_histograms_carry_trace_exemplars(after_run) -> None:
    """The SDK attaches the request's trace to TTFT, response and server duration points
    (exported over OTLP), the histograms docs/telemetry.md promises exemplars on; the request's
    other histograms keep their points but no exemplars (otel/exemplars.py). One collection:
    a reservoir starts empty after each."""
    _, recording, _ = after_run
    data = recording.metrics.get_metrics_data()
    assert data is not None
    points: dict[str, list[HistogramDataPoint]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    traced = {span.context.trace_id for span in recording.spans.get_finished_spans()}
    for name in (semconv.METRIC_TTFT, semconv.METRIC_RESPONSE_DURATION, "http.server.duration"):
        exemplars = [e for p in points[name] for e in p.exemplars]
        assert exemplars, name
        assert {e.trace_id for e in exemplars} <= traced
    for name in (semconv.METRIC_CACHE_LOOKUP_DURATION, semconv.METRIC_UPSTREAM_TTFT,
                 semconv.METRIC_TTFT_OVERHEAD, semconv.METRIC_GENAI_OPERATION_DURATION,
                 semconv.METRIC_GENAI_TOKEN_USAGE):
        assert sum(p.count for p in points[name]) >= MISSES, name
        assert not [e for p in points[name] for e in p.exemplars], name


def test_upstream_errors_counted_by_type() -> None:
    failing = start_simulator("fast", extra_args=["--fault", "status-500"])
    try:
        settings, recording = _serve(failing, upstream_max_retries=1)
        with serve_wsgi(create_app(settings, recording.telemetry)) as url:
            _, events = stream_chat(url, {"message": "Why is the sky blue?"})
            text = httpx.get(f"{url}/metrics", timeout=10).text
        recording.telemetry.shutdown()
    finally:
        failing.stop()
    code = events[-1].json()["code"]
    families = {f.name: f for f in text_string_to_metric_families(text)}
    errors = families[semconv.PROM_UPSTREAM_ERRORS.removesuffix("_total")]
    assert _total(errors, "_total", error_type=code) == 2  # the call and its one retry
    requests = families[semconv.PROM_REQUESTS.removesuffix("_total")]
    assert _total(requests, "_total", route="stream", outcome="error") == 1
    # A failed answer has no full-response duration: the mean stays that of answers.
    assert semconv.PROM_RESPONSE_DURATION not in families or _total(
        families[semconv.PROM_RESPONSE_DURATION], "_count") == 0
