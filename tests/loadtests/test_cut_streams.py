"""A stream cut anywhere inside its last event is a cut stream, never a complete answer.

A real answer is recorded from the service (and one from its OpenAI-compatible route); a small
loopback server then replays that body cut at every byte offset of its last event and closes
the connection. The load client reads each over real HTTP with ``requests`` (as Locust does)
and must count every cut as an error, and the whole body as a success.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
import requests

from loadtests.measure import (
    Sample,
    counted_lines,
    new_request_headers,
    read_chat_stream,
    read_openai_stream,
)
from loadtests.processes import ManagedProcess
from service.sse import iter_events

pytestmark = pytest.mark.integration

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def _record(url: str, body: dict) -> bytes:
    with httpx.stream("POST", url, json=body, timeout=30) as response:
        assert response.status_code == 200
        return response.read()


class _Replay:
    """Serves ``body[:n]`` for ``GET /n`` and then closes: a stream cut after ``n`` bytes."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(4096).split(b" ", 2)[1]
                conn.sendall(_HEAD + self.body[:int(request.lstrip(b"/"))])

    def close(self) -> None:
        self._sock.close()


@pytest.fixture(scope="module")
def bodies(chat_service: ManagedProcess) -> dict[str, bytes]:
    question = "What does the team plan include for cut-stream tests?"
    return {
        "chat": _record(f"{chat_service.url}/api/chat/stream", {"message": question}),
        "openai": _record(f"{chat_service.url}/v1/chat/completions", {
            "model": "auto", "stream": True,
            "messages": [{"role": "user", "content": question}]}),
    }


@pytest.fixture
def replay() -> Iterator[Callable[[bytes], _Replay]]:
    servers: list[_Replay] = []

    def start(body: bytes) -> _Replay:
        servers.append(_Replay(body))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


_READERS = {"chat": read_chat_stream, "openai": read_openai_stream}


def _read(url: str, kind: str) -> Sample:
    sample = Sample.begin(kind, new_request_headers())
    with requests.get(url, stream=True, timeout=10) as response:
        _READERS[kind](counted_lines(response, sample), sample)
    return sample


@pytest.mark.parametrize("kind", ["chat", "openai"])
def test_a_stream_cut_inside_its_last_event_counts_as_cut(
        kind: str, bodies: dict[str, bytes], replay: Callable[[bytes], _Replay]) -> None:
    body = bodies[kind]
    last_event = body.rstrip(b"\n").rindex(b"\n\n") + 2  # where the last event starts
    server = replay(body)
    whole = _read(f"{server.url}/{len(body)}", kind)
    assert whole.ok, whole.error
    assert whole.response_bytes == len(body)
    cut_read_as_complete = []
    for offset in range(last_event, len(body)):
        sample = _read(f"{server.url}/{offset}", kind)
        if sample.ok or "ended without" not in (sample.error or ""):
            cut_read_as_complete.append(offset)
    assert not cut_read_as_complete, f"read as complete when cut at {cut_read_as_complete}"


def test_the_parser_drops_an_event_without_its_blank_line(bodies: dict[str, bytes]) -> None:
    body = bodies["chat"]
    last_event = body.rstrip(b"\n").rindex(b"\n\n") + 2
    assert body[last_event:].startswith(b"event: done")
    for offset in range(last_event, len(body)):
        names = [e.event for e in iter_events(body[:offset].splitlines())]
        assert "done" not in names, offset
    assert [e.event for e in iter_events(body.splitlines())][-1] == "done"
