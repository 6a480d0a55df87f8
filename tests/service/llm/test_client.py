"""The upstream client in process, through the real ``openai`` SDK, against a scripted upstream.

A small HTTP server in this process plays what an OpenAI-compatible upstream can send — chunks
with pauses, usage, an in-band error, a status, a cut connection, silence — so every branch of
the client's reading, retrying and error mapping is checked in milliseconds.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import trace

from otel.instruments import ChatInstruments
from service.errors import UpstreamFailure
from service.events import Completion, Keepalive, TokenDelta
from service.llm.client import UpstreamClient, redact_url
from service.llm.router import RouteDecision
from service.settings import Settings
from service.timings import StreamTimings

DECISION = RouteDecision("fast", "gpt-4o-mini", "simple")


def _chunk(text: str | None = None, finish: str | None = None, model: str = "gpt-4o-mini",
           usage: dict[str, int] | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    body: dict[str, Any] = {"model": model, "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Script:
    """What the fake upstream does with each request, in order; ``seen`` counts the requests."""

    def __init__(self, *plays: Any) -> None:
        self.plays = list(plays)
        self.seen = 0


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            play = script.plays[min(script.seen, len(script.plays) - 1)]
            script.seen += 1
            if isinstance(play, int):
                body = json.dumps({"error": {"message": "no", "type": "x"}}).encode()
                self.send_response(play)
                self.send_header("Content-Type", "application/json")
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for piece in play:
                if isinstance(piece, float):
                    time.sleep(piece)
                elif piece == "CUT":
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                else:
                    self.wfile.write(piece)
                    self.wfile.flush()

    return Handler


@pytest.fixture
def upstream() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(*plays: Any) -> tuple[str, Script]:
        script = Script(*plays)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


_transport = "lean"


@pytest.fixture(autouse=True, params=["lean", "httpx"])
def transport(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every behaviour holds on both HTTP transports under the SDK (CHAT_UPSTREAM_TRANSPORT)."""
    global _transport
    _transport = request.param
    yield request.param
    _transport = "lean"


def _client(base_url: str, **settings: Any) -> UpstreamClient:
    values = {"upstream_transport": _transport, "upstream_max_retries": 1,
              "upstream_first_token_timeout_seconds": 1.0, "upstream_idle_timeout_seconds": 0.5,
              "ping_interval_seconds": 0.1,
              "upstream_retry_after_max_seconds": 0.1, **settings}
    return UpstreamClient(Settings(openai_base_url=base_url, **values), ChatInstruments.create(),
                          trace.NoOpTracerProvider().get_tracer("test"))


def _read(client: UpstreamClient) -> list[Any]:
    return list(client.stream([{"role": "user", "content": "hi"}], DECISION, StreamTimings()))


ANSWER = [_chunk("Hello"), 0.05, _chunk(" there"), _chunk("."),
          _chunk(finish="stop", usage={"prompt_tokens": 9, "completion_tokens": 3}),
          b"data: [DONE]\n\n"]


def test_an_answer_arrives_as_token_batches_then_one_completion(upstream) -> None:
    url, _ = upstream(ANSWER)
    items = _read(_client(url))
    texts = [t for item in items if isinstance(item, TokenDelta) for t in item.texts]
    assert texts == ["Hello", " there", "."]
    completion = items[-1]
    assert isinstance(completion, Completion)
    assert (completion.finish_reason, completion.input_tokens, completion.output_tokens) == (
        "stop", 9, 3)


def test_a_failed_call_is_retried_before_the_first_token(upstream) -> None:
    url, script = upstream(503, ANSWER)
    items = _read(_client(url))
    assert isinstance(items[-1], Completion) and script.seen == 2


def test_rate_limiting_that_persists_is_upstream_rate_limited(upstream) -> None:
    url, script = upstream(429)
    with pytest.raises(UpstreamFailure) as caught:
        _read(_client(url))
    assert caught.value.code == "upstream_rate_limited" and caught.value.http_status == 429
    assert script.seen == 2  # one retry, then the failure


class _CountingServer(ThreadingHTTPServer):
    """Counts the connections it accepted."""

    connections = 0

    def get_request(self) -> Any:
        self.connections += 1
        return super().get_request()


def _kept_alive(end_after: float) -> type[BaseHTTPRequestHandler]:
    """Answers ``ANSWER`` chunked on a kept-alive connection; the body's last chunk comes
    ``end_after`` seconds after ``[DONE]``."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in ANSWER:
                if isinstance(piece, float):
                    time.sleep(piece)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
            time.sleep(end_after)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


@pytest.mark.parametrize("end_after", [0.0, 0.3])
def test_answers_reuse_one_upstream_connection_even_when_the_body_ends_after_done(
        end_after: float) -> None:
    server = _CountingServer(("127.0.0.1", 0), _kept_alive(end_after))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = _client(f"http://127.0.0.1:{server.server_address[1]}/v1")
        for _ in range(3):
            assert isinstance(_read(client)[-1], Completion)  # not held until the body ends
            time.sleep(end_after + 0.3)  # the rest of the body read meanwhile
        assert server.connections == 1
    finally:
        server.shutdown()
        server.server_close()


def test_an_in_band_error_mid_answer_is_upstream_error(upstream) -> None:
    url, _ = upstream([_chunk("Hel"), b'data: {"error": {"message": "overloaded"}}\n\n'])
    with pytest.raises(UpstreamFailure) as caught:
        _read(_client(url))
    assert caught.value.code == "upstream_error"


@pytest.mark.parametrize("chunk", [b"null", b"[]", b'"text"', b"3"])
def test_a_chunk_that_is_not_an_object_is_upstream_error(upstream, chunk: bytes) -> None:
    url, script = upstream([_chunk("Hel"), b"data: " + chunk + b"\n\n"])
    with pytest.raises(UpstreamFailure) as caught:
        _read(_client(url))
    assert caught.value.code == "upstream_error" and script.seen == 1


def test_tokens_read_together_with_an_in_band_error_still_come_first(upstream) -> None:
    # One write: the chunks before the error arrive in the same read as the error itself.
    error = b'data: {"error": {"message": "overloaded"}}\n\n'
    url, script = upstream([_chunk("Hel") + _chunk("lo") + error])
    items: list[Any] = []
    with pytest.raises(UpstreamFailure) as caught:
        for item in _client(url).stream([{"role": "user", "content": "hi"}], DECISION,
                                        StreamTimings()):
            items.append(item)
    assert [t for item in items if isinstance(item, TokenDelta) for t in item.texts] == [
        "Hel", "lo"]
    assert caught.value.code == "upstream_error" and script.seen == 1  # delivered: no retry


def test_a_connection_cut_mid_answer_is_interrupted_and_not_retried(upstream) -> None:
    url, script = upstream([_chunk("Hel"), "CUT"])
    with pytest.raises(UpstreamFailure) as caught:
        _read(_client(url))
    assert caught.value.code == "upstream_interrupted" and script.seen == 1


def test_silence_before_the_first_token_times_out_with_keepalives_meanwhile(upstream) -> None:
    url, _ = upstream([3.0])
    seen: list[Any] = []
    with pytest.raises(UpstreamFailure) as caught:
        for item in _client(url, upstream_max_retries=0).stream(
                [{"role": "user", "content": "hi"}], DECISION, StreamTimings()):
            seen.append(item)
    assert caught.value.code == "upstream_timeout"
    assert seen and all(isinstance(item, Keepalive) for item in seen)


def test_an_unknown_response_model_is_reported_as_other(upstream) -> None:
    url, _ = upstream([_chunk("x", model="sk-echoed-secret"), _chunk(finish="stop",
                                                                     model="sk-echoed-secret"),
                       b"data: [DONE]\n\n"])
    completion = _read(_client(url))[-1]
    assert completion.response_model == "_OTHER"


def test_credentials_are_redacted_from_a_shown_url() -> None:
    assert redact_url("https://user:secret@api.example:8443/v1?key=abc") == \
        "https://api.example:8443/v1"


class _KeepAliveUpstream(BaseHTTPRequestHandler):
    """Answers every request in one chunked body on a kept-alive connection; notes the peer."""

    protocol_version = "HTTP/1.1"
    peers: set[int] = set()

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).peers.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (_chunk("Hi"), _chunk(finish="stop"), b"data: [DONE]\n\n"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


def test_answers_reuse_one_upstream_connection() -> None:
    _KeepAliveUpstream.peers = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = _client(f"http://127.0.0.1:{server.server_address[1]}/v1")
        for _ in range(5):
            assert isinstance(_read(client)[-1], Completion)
            # The answer ends at [DONE]; the reader hands the connection back when the body's
            # last chunk has arrived, a moment later (a question asked within that moment
            # opens a second connection: harmless, and not what this test is about).
            time.sleep(0.05)
        assert len(_KeepAliveUpstream.peers) == 1
        client.close()
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_proxy_in_the_environment_is_honoured(upstream, monkeypatch) -> None:
    proxy_url, script = upstream(ANSWER)  # plays the proxy: it answers whatever it is sent
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/v1"))
    with socket.create_server(("127.0.0.1", 0)) as probe:
        unreachable = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    items = _read(_client(unreachable))
    assert isinstance(items[-1], Completion)
    assert script.seen == 1  # the request went through the proxy, not to the unreachable host


def test_the_upstream_ttft_starts_when_the_request_is_on_the_wire(upstream, transport) -> None:
    # A large request: the SDK's encoding and the send take milliseconds. They are the
    # service's work, so the service's overhead holds them and the upstream's TTFT does not
    # (on the lean transport, which sees the bytes leave; on httpx the SDK is asked then).
    url, _ = upstream(ANSWER)
    messages = [{"role": "user", "content": "x" * 8_000_000}]
    started = time.perf_counter()
    json.dumps({"messages": messages})
    encoding = time.perf_counter() - started
    timings = StreamTimings()
    asked = time.monotonic()
    assert isinstance(list(_client(url).stream(messages, DECISION, timings))[-1], Completion)
    assert timings.upstream_sent is not None and timings.upstream_first_token is not None
    before_the_wire = timings.upstream_sent - asked
    upstream_ttft = timings.upstream_first_token - timings.upstream_sent
    if transport == "lean":
        assert before_the_wire >= encoding / 2 and upstream_ttft < before_the_wire
    else:  # the SDK's encoding is inside the upstream's time
        assert upstream_ttft >= encoding / 2
