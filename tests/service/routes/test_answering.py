"""What a streamed answer keeps once its view has returned: the body is written after Flask's
request context ended, and its log lines still name the request; its headers are the same, in
the same order, whichever way werkzeug is bypassed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from loadtests.processes import ManagedProcess
from otel.testing import recording_telemetry, serve_wsgi
from service.app import create_app
from service.events import PipelineEvent
from service.request_context import RequestIdFilter
from service.routes.chat import SSERenderer
from service.settings import Settings
from tests.support import stream_chat

_LOGGER = logging.getLogger("service.routes.chat")


def test_a_log_line_written_while_the_body_streams_carries_the_request_id(
    simulator: ManagedProcess, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    render = SSERenderer.render

    def logging_render(self: SSERenderer, events: Iterator[PipelineEvent]) -> Iterator[bytes]:
        for piece in render(self, events):
            _LOGGER.warning("wrote a piece")
            yield piece

    monkeypatch.setattr(SSERenderer, "render", logging_render)
    caplog.handler.addFilter(RequestIdFilter())
    settings = Settings.from_env({}, openai_base_url=f"{simulator.url}/v1", prewarm=False,
                                 log_level="WARNING")
    recording = recording_telemetry(settings)
    with caplog.at_level(logging.WARNING, logger=_LOGGER.name), \
            serve_wsgi(create_app(settings, recording.telemetry)) as url:
        response, events = stream_chat(url, {"message": "How do I reset my router?"},
                                       headers={"X-Request-ID": "streamed-1"})
    recording.telemetry.shutdown()
    assert response.status_code == 200 and events[-1].event == "done"
    lines = [r for r in caplog.records if r.getMessage() == "wrote a piece"]
    assert lines and {r.request_id for r in lines} == {"streamed-1"}  # type: ignore[attr-defined]
    # Once the answer is written, nothing is left bound: a later line names no request.
    _LOGGER.warning("after the answer")
    assert caplog.records[-1].request_id == "-"  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/api/chat/stream", "/v1/chat/completions"])
def test_a_streamed_answer_has_its_headers_in_order(simulator: ManagedProcess, path: str) -> None:
    settings = Settings.from_env({}, openai_base_url=f"{simulator.url}/v1", prewarm=False,
                                 log_level="WARNING")
    recording = recording_telemetry(settings)
    body = ({"message": "How do I reset my router?"} if path.startswith("/api")
            else {"model": "gpt-4o-mini", "stream": True,
                  "messages": [{"role": "user", "content": "How do I reset my router?"}]})
    with serve_wsgi(create_app(settings, recording.telemetry)) as url, \
            httpx.Client(base_url=url, timeout=30) as client, \
            client.stream("POST", path, json=body, headers={"X-Request-ID": "r-1"}) as response:
        response.read()
    recording.telemetry.shutdown()
    names = [name for name, _ in response.headers.items()
             if name not in ("date", "server", "transfer-encoding")]  # the test server's own
    assert names == ["cache-control", "x-accel-buffering", "connection",
                     *(["x-cache"] if path.startswith("/v1") else []), "content-type",
                     "traceresponse", "x-request-id", "content-security-policy",
                     "x-content-type-options", "referrer-policy"]
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["x-request-id"] == "r-1"
