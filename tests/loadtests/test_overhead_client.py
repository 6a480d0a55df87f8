"""The benchmark's raw HTTP client against a real (in-process, loopback) server of awkward habits.

The server splits chunks across TCP writes, ends lines with CRLF, sends comments, and fails in
each of the ways a proxy can; the client must time the first content token and count each
failure by its kind, because that is what the benchmark's columns report.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from loadtests.overhead.client import Endpoint, Sample, ask, run_round

T = TypeVar("T")

_FIRST_TOKEN_S = 0.05
_TOKENS = 5


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\r\n\r\n"


def _delta(content: str) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


class _Server:
    """Answers by the mode named in the question; counts the connections it accepted."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                body = json.loads(await reader.readexactly(length))
                if not await self.answer(body["messages"][0]["content"], writer):
                    return
        except asyncio.IncompleteReadError:
            return
        finally:
            writer.close()

    async def answer(self, mode: str, writer: asyncio.StreamWriter) -> bool:
        if mode == "busy":
            writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}")
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\nX-Cache: miss\r\n\r\n")
        writer.write(_chunk(_event({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
                            + b": ping\r\n\r\n"))
        await asyncio.sleep(_FIRST_TOKEN_S)
        for index in range(_TOKENS):
            piece = _chunk(_event(_delta(f" word{index}")))
            writer.write(piece[:7])  # a chunk split mid-size-line and mid-data
            await writer.drain()
            await asyncio.sleep(0.001)
            writer.write(piece[7:])
            if mode == "cut" and index == 1:
                return False
            if mode == "error" and index == 1:
                writer.write(_chunk(_event({"error": {"message": "upstream failed"}})))
                writer.write(b"0\r\n\r\n")
                return True
        writer.write(_chunk(_event({"choices": [{"delta": {}, "finish_reason": "stop"}]})))
        writer.write(_chunk(b"data: [DONE]\r\n\r\n") + b"0\r\n\r\n")
        return True


async def _with_server(test: Callable[[Endpoint, _Server], Awaitable[T]]) -> T:
    server = _Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        return await test(Endpoint.from_url(f"http://127.0.0.1:{port}"), server)
    finally:
        listener.close()
        await listener.wait_closed()


def _body(mode: str) -> bytes:
    return json.dumps({"model": "m", "stream": True,
                       "messages": [{"role": "user", "content": mode}]}).encode()


def test_a_complete_answer_is_timed_at_its_first_content_token() -> None:
    async def test(endpoint: Endpoint, server: _Server) -> Sample:
        return await ask(endpoint, _body("ok"), timeout_s=30)

    sample = asyncio.run(_with_server(test))
    assert sample.error is None
    assert sample.tokens == _TOKENS
    assert sample.cache == "miss"
    assert sample.ttft_s is not None and sample.ttft_s >= _FIRST_TOKEN_S  # not the role chunk
    assert sample.first_token is not None and sample.ended >= sample.first_token


def test_failures_are_counted_by_kind() -> None:
    async def test(endpoint: Endpoint, server: _Server) -> list[str | None]:
        samples = [await ask(endpoint, _body(mode), timeout_s=30)
                   for mode in ("busy", "error", "cut")]
        return [s.error for s in samples]

    assert asyncio.run(_with_server(test)) == ["http-503", "error-event", "cut"]


def test_a_user_keeps_its_connection_and_every_user_asks() -> None:
    async def test(endpoint: Endpoint, server: _Server) -> tuple[int, int, float]:
        result = await run_round(endpoint, concurrency=3, seconds=1.0,
                                 body=lambda: _body("ok"), timeout_s=30)
        assert all(s.error is None for s in result.samples)
        return len(result.samples), server.connections, result.answers_per_s

    answers, connections, rate = asyncio.run(_with_server(test))
    assert connections == 3  # one keep-alive connection per user, however many answers
    assert answers >= 6  # each user asked again while the round lasted
    assert rate > 0


def test_burst_arrivals_send_every_user_at_once_wave_after_wave() -> None:
    async def test(endpoint: Endpoint, server: _Server) -> tuple[list[Sample], int]:
        result = await run_round(endpoint, concurrency=4, seconds=0.3,
                                 body=lambda: _body("ok"), timeout_s=30, burst=True)
        return list(result.samples), server.connections

    samples, connections = asyncio.run(_with_server(test))
    assert connections == 4 and all(s.error is None for s in samples)
    assert len(samples) % 4 == 0 and len(samples) >= 8  # whole waves, past the deadline once
    waves = [sorted(samples, key=lambda s: s.started)[i:i + 4] for i in range(0, len(samples), 4)]
    for wave, following in itertools.pairwise(waves):
        # A wave's requests leave together; the next one only after all of them ended.
        assert wave[-1].started - wave[0].started < 0.05
        assert min(s.started for s in following) >= max(s.ended for s in wave)
