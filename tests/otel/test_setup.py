"""``init_telemetry``: resource, exporter choice from the ``OTEL_*`` settings, telemetry off."""

from __future__ import annotations

import os

import httpx
import pytest

import service
from loadtests.processes import ManagedProcess
from otel import semconv
from otel.setup import init_telemetry
from otel.testing import recording_telemetry, serve_wsgi
from service.app import create_app
from service.settings import Settings
from tests.support import stream_chat


def _settings(**env: str) -> Settings:
    return Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", **env})


def test_resource_names_service_version_and_instance() -> None:
    telemetry = init_telemetry(_settings(OTEL_SERVICE_NAME="chat-eu"))
    assert telemetry.tracer_provider is not None
    attributes = telemetry.tracer_provider.resource.attributes
    telemetry.shutdown()
    assert attributes["service.name"] == "chat-eu"
    assert attributes["service.version"] == service.__version__
    assert str(attributes["service.instance.id"]).endswith(f"-{os.getpid()}")


@pytest.mark.parametrize(("exporter", "printed"), [("none", False), ("console", True)])
def test_traces_exporter(exporter: str, printed: bool, capsys: pytest.CaptureFixture[str]) -> None:
    telemetry = init_telemetry(_settings(OTEL_TRACES_EXPORTER=exporter))
    with telemetry.tracer.start_as_current_span(semconv.SPAN_CACHE_STORE):
        pass
    telemetry.shutdown()
    assert (semconv.SPAN_CACHE_STORE in capsys.readouterr().out) is printed


def test_telemetry_off_keeps_metrics_and_drops_traces(simulator: ManagedProcess) -> None:
    settings = Settings.from_env(
        {}, openai_base_url=f"{simulator.url}/v1", prewarm=False, telemetry=False
    )
    recording = recording_telemetry(settings)
    assert recording.telemetry.tracer_provider is None
    with serve_wsgi(create_app(settings, recording.telemetry)) as url:
        response, events = stream_chat(url, {"message": "Is telemetry off?"})
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
    recording.telemetry.shutdown()
    assert events[-1].event == "done"
    assert "trace_id" not in events[-1].json()
    assert semconv.HEADER_TRACE_RESPONSE not in response.headers
    assert recording.spans.get_finished_spans() == ()
    assert f"{semconv.PROM_TTFT}_count" in metrics
