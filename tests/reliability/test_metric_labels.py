"""No metric label takes a value from a client or an upstream (issue 11, row 4 and "also seen").

Hostile values go in everywhere a request can carry them — Host, method, path, headers, model
names, tenants — and from an upstream that echoes the API key as its model name; afterwards
every label of every series on ``/metrics`` must be one of the values ``otel/semconv.py``
declares, so the series count is bounded by design.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests.processes import LOOPBACK, ManagedProcess
from otel import semconv
from tests.support import stream_chat

pytestmark = pytest.mark.integration

UPSTREAM_KEY = "sk-RECOGNISABLE-upstream-key-7373"
FAST, SMART = "gpt-4o-mini", "gpt-4o"
HTTP_METHODS = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
                semconv.OTHER_VALUE}


class _EchoingUpstream(BaseHTTPRequestHandler):
    """An OpenAI-compatible upstream that reports the caller's API key as its model name."""

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self._send(200, b'{"object":"list","data":[]}', "application/json")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        echoed = self.headers.get("Authorization", "").removeprefix("Bearer ")
        chunks = [{"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                   "model": echoed} for word in ("Hello", " there", ".")]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                       "model": echoed, "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
        body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
        self._send(200, body + b"data: [DONE]\n\n", "text/event-stream")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def echoing_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer((LOOPBACK, 0), _EchoingUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{LOOPBACK}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _labels(metrics_text: str) -> Iterator[tuple[str, str, str]]:
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            for key, value in sample.labels.items():
                if key != "le":  # histogram bucket edges: fixed by the instrument
                    yield sample.name, key, value


def _allowed(key: str, value: str) -> bool:
    if key in ("gen_ai_request_model", "gen_ai_response_model"):
        return value in (FAST, SMART, semconv.OTHER_VALUE)
    if key in ("http_method", "http_request_method"):
        return value in HTTP_METHODS
    if key in ("http_status_code", "http_response_status_code"):
        return re.fullmatch(r"[1-5]\d\d", value) is not None
    if key == "http_route":
        return value.startswith("/") and "attacker" not in value
    allowed = semconv.LABEL_VALUES.get(key)
    return allowed is not None and value in allowed


def _hostile_traffic(base: str) -> None:
    with httpx.Client(timeout=30) as client:
        for i in range(20):
            headers = {"Host": f"h{i}.attacker.example", "X-Tenant": f"attacker-{i}",
                       "User-Agent": f"attacker-{i}", "X-Request-ID": f"attacker-{i}"}
            client.get(f"{base}/openapi.json", headers=headers)
            client.get(f"{base}/attacker/{i}", headers=headers)
            client.request(f"ATTACK{i}", f"{base}/api/chat/stream", headers=headers)
            client.post(f"{base}/api/chat/stream", headers=headers,
                        json={"message": f"attacker question {i}", "model": f"attacker-{i}"})
            client.post(f"{base}/v1/chat/completions", headers=headers,
                        json={"model": f"attacker-{i}", "messages": [
                            {"role": "user", "content": f"attacker {i}"}]})


def test_hostile_requests_add_no_label_values(chat_service: ManagedProcess) -> None:
    _hostile_traffic(chat_service.url)
    stream_chat(chat_service.url, {"message": "An ordinary question, for the counters"})
    text = httpx.get(f"{chat_service.url}/metrics").text
    assert "attacker" not in text
    unknown = {(name, key, value) for name, key, value in _labels(text)
               if not _allowed(key, value)}
    assert not unknown


def test_an_upstream_echoing_the_key_does_not_put_it_in_labels_or_answers(
    start_chat_service, echoing_upstream: str
) -> None:
    service = start_chat_service(echoing_upstream, OPENAI_API_KEY=UPSTREAM_KEY)
    _, first = stream_chat(service.url, {"message": "Who are you?"})
    _, again = stream_chat(service.url, {"message": "Who are you?"})
    assert first[-1].event == "done" and again[0].json()["cache"] == "hit"
    text = httpx.get(f"{service.url}/metrics").text
    shown = text + "".join(e.data for e in again) + httpx.get(
        f"{service.url}/api/openai/stats").text
    assert "RECOGNISABLE" not in shown
    models = {value for _, key, value in _labels(text) if key == "gen_ai_response_model"}
    assert models == {semconv.OTHER_VALUE}
