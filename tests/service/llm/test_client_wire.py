"""What the upstream client puts on the wire is what the ``openai`` SDK's own call sends.

The client hands the SDK work it would redo on every request already done once (the absolute
URL); a real HTTP server records the bytes of the client's request and of the SDK's stock call
(a relative path, as the client made it before) with the same body and trace header, on both
HTTP transports: request line, every header in order (auth, the SDK's ``x-stainless-*`` incl.
the read timeout and retry count), and the body must be byte for byte the same.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from opentelemetry import trace

from otel.instruments import ChatInstruments
from service.events import Completion
from service.llm.client import UpstreamClient
from service.llm.router import RouteDecision
from service.settings import Settings
from service.timings import StreamTimings

_ANSWER = (b'data: {"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"},'
           b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, list[tuple[str, str]], bytes]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.requestline, list(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(_ANSWER)))
        self.end_headers()
        self.wfile.write(_ANSWER)


@pytest.fixture(scope="module")
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_the_request_is_the_sdks_own_byte_for_byte(recorder: str, transport: str) -> None:
    settings = Settings(openai_base_url=recorder, openai_api_key="sk-wire-test",
                        upstream_transport=transport, upstream_first_token_timeout_seconds=7.0,
                        upstream_idle_timeout_seconds=3.0)
    client = UpstreamClient(settings, ChatInstruments.create(),
                            trace.NoOpTracerProvider().get_tracer("test"))
    _Recorder.seen = []
    # Numbers JSON encoders write differently (``1e-05`` or ``0.00001``), a control character,
    # and text beyond ASCII: an encoding other than the SDK's would show in the body.
    items = list(client.stream([{"role": "user", "content": "Ünïcode, \"quotes\",\x01 and 1e-7"}],
                               RouteDecision("fast", "gpt-4o-mini", "simple"), StreamTimings(),
                               sampling={"temperature": 1e-05, "top_p": 0.95,
                                         "seed": 2**62 + 1}))
    assert isinstance(items[-1], Completion)
    (ours,) = _Recorder.seen
    sent_headers = dict((name.lower(), value) for name, value in ours[1])
    extra = {"traceparent": sent_headers["traceparent"]} if "traceparent" in sent_headers else {}

    # The SDK's stock call, as the client made it before: a relative path, merged per request.
    stock = client._client.post("/chat/completions", body=json.loads(ours[2]),
                                options={"headers": extra}, cast_to=httpx2.Response,
                                stream=True)
    stock.read()
    stock.close()
    client.close()
    theirs = _Recorder.seen[1]

    assert ours[0] == theirs[0] == "POST /v1/chat/completions HTTP/1.1"
    assert ours[1] == theirs[1]
    assert ours[2] == theirs[2]
    assert sent_headers["authorization"] == "Bearer sk-wire-test"
    assert sent_headers["x-stainless-retry-count"] == "0"
    assert sent_headers["x-stainless-read-timeout"] == "12.0"  # the first-token backstop + 5 s
