"""An exception at any stage of a request: a clean error, and every resource given back.

The app runs in this process behind a real HTTP server, against the real simulator, so a stage
can be made to raise (a bug, as far as the service can tell). Whatever the stage and the route,
the client gets a clear end — a JSON error, or an ``error`` event in the stream — and afterwards
the worker's stream slots, the upstream's open streams and the active-stream gauge are all back
at zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from loadtests.processes import ManagedProcess
from otel import semconv
from otel.testing import recording_telemetry, serve_wsgi, wait_until
from service.app import create_app
from service.components import Components
from service.events import TokenDelta
from service.routes import chat, openai_compat
from service.settings import Settings
from service.sse import iter_events
from tests.reliability.conftest import sim_stats

pytestmark = pytest.mark.integration


class Bug(RuntimeError):
    """The injected failure."""


def _raise(*args: Any, **kwargs: Any) -> Any:
    raise Bug("injected")


def _fail_after_two_tokens(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
        tokens = 0
        for item in original(*args, **kwargs):
            yield item
            tokens += len(item.texts) if isinstance(item, TokenDelta) else 0
            if tokens >= 2:
                raise Bug("injected mid-stream")

    return stream


def _inject(stage: str, parts: Components, monkeypatch: pytest.MonkeyPatch) -> None:
    if stage == "cache-lookup":
        monkeypatch.setattr(parts.pipeline, "_lookup", _raise)
    elif stage == "routing":
        monkeypatch.setattr(parts.pipeline._router, "choose", _raise)
    elif stage == "upstream-start":
        monkeypatch.setattr(parts.upstream, "stream", _raise)
    elif stage == "upstream-mid-stream":
        monkeypatch.setattr(parts.upstream, "stream", _fail_after_two_tokens(parts.upstream.stream))
    elif stage == "cache-store":
        monkeypatch.setattr(parts.pipeline, "_store", _raise)
    elif stage == "rendering":
        monkeypatch.setattr(chat, "format_token", _raise)
        monkeypatch.setattr(openai_compat.ChunkRenderer, "_content_chunks", _raise)


STAGES = ("cache-lookup", "routing", "upstream-start", "upstream-mid-stream", "cache-store",
          "rendering")
ROUTES = ("stream", "json", "openai-stream", "openai-json")


@pytest.fixture
def app_and_parts(simulator: ManagedProcess) -> Iterator[tuple[str, Components, Any]]:
    settings = Settings(openai_base_url=f"{simulator.url}/v1", prewarm=False,
                        ping_interval_seconds=0.25, log_level="CRITICAL")
    recording = recording_telemetry(settings)
    app = create_app(settings, recording.telemetry)
    parts: Components = app.extensions["chatperf"]
    with serve_wsgi(app) as url:
        yield url, parts, recording
    parts.close()


def _ask(url: str, route: str, question: str) -> tuple[int, str]:
    """Send ``question`` on ``route``; returns the status and how the answer ended."""
    if route.startswith("openai"):
        body = {"model": "auto", "stream": route == "openai-stream",
                "messages": [{"role": "user", "content": question}]}
        path = "/v1/chat/completions"
    else:
        body, path = {"message": question}, "/api/chat/stream" if route == "stream" else "/api/chat"
    with httpx.Client(timeout=30) as client, client.stream("POST", url + path, json=body) as resp:
        if resp.headers.get("content-type", "").startswith("text/event-stream"):
            events = list(iter_events(resp.iter_lines()))
            last = events[-1]
            if route == "stream":
                return resp.status_code, last.event if last.event != "error" else last.json()[
                    "code"]
            data = last.data
            return resp.status_code, "done" if data == "[DONE]" else last.json()["error"]["code"]
        payload = resp.read()
        error = httpx.Response(resp.status_code, content=payload).json().get("error")
        return resp.status_code, error["code"] if error else "done"


def _active_streams(recording: Any) -> float:
    data = recording.metrics.get_metrics_data()
    total = 0.0
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == semconv.METRIC_ACTIVE_STREAMS:
                    total += sum(point.value for point in metric.data.data_points)
    return total


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("stage", STAGES)
def test_an_exception_at_any_stage_ends_cleanly_and_frees_everything(
    app_and_parts, simulator: ManagedProcess, monkeypatch: pytest.MonkeyPatch,
    stage: str, route: str,
) -> None:
    url, parts, recording = app_and_parts
    _inject(stage, parts, monkeypatch)
    status, ending = _ask(url, route, f"Injected failure at {stage} on {route}?")

    streamed = route in ("stream", "openai-stream")
    if stage == "cache-store" or (stage == "rendering" and not streamed):
        assert (status, ending) == (200, "done")  # complete before the stage (or no such stage)
    elif not streamed or (route == "openai-stream" and stage in (
            "cache-lookup", "routing", "upstream-start")):
        assert (status, ending) == (500, "internal_error")  # before any byte of the answer
    else:
        assert (status, ending) == (200, "internal_error")  # in-band, after the stream began
    assert wait_until(lambda: parts.admission.open == 0, 5)
    assert wait_until(lambda: sim_stats(simulator)["open_streams"] == 0, 5)
    assert wait_until(lambda: _active_streams(recording) == 0, 5)
