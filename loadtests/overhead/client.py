"""A lean asyncio client for streamed chat completions: raw HTTP/1.1 in an ``asyncio.Protocol``.

The benchmark resolves single milliseconds of proxy overhead on a machine it shares with the
servers, so the client must cost far less than that per answer and must cost the same whichever
server it talks to. An HTTP library (or Locust) adds a millisecond or more per request, and even
asyncio's stream reader wakes a coroutine per token; a protocol's ``data_received`` callback
parses the chunked SSE bytes in place and wakes the waiting user once, when the answer ends. JSON
is parsed only until the first content token. Each virtual user keeps one keep-alive connection,
as a real OpenAI client does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Endpoint", "RoundResult", "Sample", "ask", "run_round"]


# A user whose request failed waits this long before asking again, as a real client backs off;
# otherwise a refusing server (503 at a stream limit) is hammered and errors pile up by thousands.
_ERROR_PAUSE_S = 0.5


@dataclass(frozen=True)
class Endpoint:
    """Where a side of the comparison answers ``POST /v1/chat/completions``."""

    host: str
    port: int
    path: str

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        """``http://host:port`` or ``http://host:port/v1`` → the chat completions endpoint."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, got {url!r}")
        base = parts.path.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return cls(parts.hostname, parts.port or 80, f"{base}/chat/completions")

    def request(self, body: bytes) -> bytes:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer sk-overhead\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("ascii") + body


@dataclass(frozen=True)
class Sample:
    """One streamed answer as the client saw it; times are ``time.perf_counter`` seconds."""

    started: float
    first_token: float | None  # first non-empty content delta
    ended: float
    tokens: int  # content deltas received
    error: str | None  # None: a complete answer ending in [DONE]
    cache: str | None  # the X-Cache response header, when the server sends one

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started


class _Failed(Exception):
    """The answer did not complete; the message is the error kind counted in the summary."""


class _AnswerProtocol(asyncio.Protocol):
    """One keep-alive connection; parses one streamed response at a time as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._answer: asyncio.Future[Sample] | None = None

    # -- connection events
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            if self._head_done and self._length is None and not self._chunked and self._done:
                self._finish()  # a body delimited by the connection's end
            else:
                self._fail("cut")

    # -- one request
    def send(self, request: bytes) -> asyncio.Future[Sample]:
        assert self.transport is not None and not self.closed
        self._answer = asyncio.get_running_loop().create_future()
        self._buffer = b""
        self._head_done = False
        self._chunked = False
        self._length: int | None = None  # Content-Length left to read
        self._chunk_left = -1  # bytes left in the current chunk, -1: expecting a size line
        self._sse = b""
        self._first: float | None = None
        self._tokens = 0
        self._done = False
        self._cache: str | None = None
        self._keep_alive = True
        self._started = time.perf_counter()
        self.transport.write(request)
        return self._answer

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.closed = True

    def _fail(self, kind: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(_Failed(kind))
        self.close()

    def _finish(self) -> None:
        assert self._answer is not None
        if not self._done:
            self._fail("no-done")
            return
        if not self._keep_alive:
            self.close()
        self._answer.set_result(Sample(
            self._started, self._first, time.perf_counter(), self._tokens,
            None if self._first is not None else "no-token", self._cache))

    # -- parsing
    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            return  # bytes after an answer we gave up on
        try:
            self._parse(data)
        except (_Failed, ValueError) as exc:
            self._fail(str(exc) if isinstance(exc, _Failed) else "bad-response")

    def _parse(self, data: bytes) -> None:
        self._buffer += data
        if not self._head_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head(self._buffer[:end].decode("latin-1"))
            self._buffer = self._buffer[end + 4:]
        if self._chunked:
            self._chunks()
        elif self._length is not None:
            body, self._buffer = self._buffer[:self._length], self._buffer[self._length:]
            self._length -= len(body)
            self._events(body)
            if self._length == 0:
                self._finish()
        else:
            body, self._buffer = self._buffer, b""
            self._events(body)

    def _head(self, head: str) -> None:
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 200:
            raise _Failed(f"http-{status}")  # the body is not needed; the connection is closed
        self._head_done = True
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not self._chunked and "content-length" in headers:
            self._length = int(headers["content-length"])
        self._keep_alive = (headers.get("connection", "").lower() != "close"
                            and (self._chunked or self._length is not None))
        self._cache = headers.get("x-cache")

    def _chunks(self) -> None:
        while True:
            if self._chunk_left < 0:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(self._buffer[:end].split(b";", 1)[0], 16)
                if size == 0:  # last chunk; no trailers are expected
                    if len(self._buffer) < end + 4:
                        return
                    self._buffer = b""
                    self._finish()
                    return
                self._buffer = self._buffer[end + 2:]
                self._chunk_left = size + 2  # the data and its CRLF
            if not self._buffer:
                return
            take = self._buffer[:self._chunk_left]
            self._buffer = self._buffer[len(take):]
            self._chunk_left -= len(take)
            if self._chunk_left < 2:  # the CRLF after the data is in ``take``
                take = take[:len(take) - (2 - self._chunk_left)]
            if self._chunk_left == 0:
                self._chunk_left = -1
            self._events(take)

    def _events(self, data: bytes) -> None:
        self._sse += data
        if b"\r" in self._sse:
            self._sse = self._sse.replace(b"\r\n", b"\n")
        *events, self._sse = self._sse.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, payload: bytes) -> None:
        if payload == b"[DONE]":
            self._done = True
        elif self._first is None or b'"error"' in payload:
            obj = json.loads(payload)
            if "error" in obj:
                raise _Failed("error-event")
            choices = obj.get("choices") or [{}]
            if (choices[0].get("delta") or {}).get("content"):
                self._first = self._first or time.perf_counter()
                self._tokens += 1
        elif b'"content"' in payload:
            self._tokens += 1


class _Connection:
    """A user's connection, reopened when the server closed it or an answer failed."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.protocol: _AnswerProtocol | None = None

    async def answer(self, body: bytes, timeout_s: float) -> Sample:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                if self.protocol is None or self.protocol.closed:
                    _, self.protocol = await asyncio.get_running_loop().create_connection(
                        _AnswerProtocol, self.endpoint.host, self.endpoint.port)
                sample = await self.protocol.send(self.endpoint.request(body))
            # A new connection's set-up counts, as it would for any client.
            return Sample(started, sample.first_token, sample.ended, sample.tokens, sample.error,
                          sample.cache)
        except _Failed as exc:
            kind = str(exc)
        except TimeoutError:
            kind = "timeout"
        except OSError as exc:
            kind = type(exc).__name__
        self.close()
        return Sample(started, None, time.perf_counter(), 0, kind, None)

    def close(self) -> None:
        if self.protocol is not None:
            self.protocol.close()
        self.protocol = None


async def ask(endpoint: Endpoint, body: bytes, timeout_s: float = 60.0) -> Sample:
    """One streamed answer on a connection of its own (a warm-up or a probe)."""
    conn = _Connection(endpoint)
    try:
        return await conn.answer(body, timeout_s)
    finally:
        conn.close()


@dataclass(frozen=True)
class RoundResult:
    """Every sample of one round, and its steady rate of answers."""

    samples: tuple[Sample, ...]
    # Each user's complete answers over the time from its first request to its last answer,
    # summed over users: a closed loop's throughput, whatever the ramp and the final drain.
    answers_per_s: float


def _user_rate(samples: list[Sample]) -> float:
    complete = sum(1 for s in samples if s.error is None)
    if not complete:
        return 0.0
    return complete / (samples[-1].ended - samples[0].started)


async def run_round(
    endpoint: Endpoint,
    concurrency: int,
    seconds: float,
    body: Callable[[], bytes],
    ramp_s: float = 0.0,
    timeout_s: float = 60.0,
    burst: bool = False,
) -> RoundResult:
    """``concurrency`` users, each asking in a loop until ``seconds`` have passed; all answers end.

    Spread (the default): users start evenly spread over ``ramp_s`` so that their answers do not
    stay in lockstep, and each asks again as soon as its answer ends. ``burst``: every user asks
    at the same instant, the next wave only once every answer of the last one ended, so every
    request arrives with all the others (real traffic is not spread). Each user asks at least
    once. ``body()`` gives each request's JSON body (a new prompt each time, or a repeated one).
    """
    if burst:
        return await _waves(endpoint, concurrency, seconds, body, timeout_s)
    deadline = time.perf_counter() + ramp_s + seconds

    async def user(index: int) -> list[Sample]:
        conn, samples = _Connection(endpoint), []
        try:
            await asyncio.sleep(ramp_s * index / concurrency)
            while not samples or time.perf_counter() < deadline:
                sample = await conn.answer(body(), timeout_s)
                samples.append(sample)
                if sample.error is not None:
                    await asyncio.sleep(_ERROR_PAUSE_S)
        finally:
            conn.close()
        return samples

    per_user = await asyncio.gather(*(user(i) for i in range(concurrency)))
    return RoundResult(tuple(s for samples in per_user for s in samples),
                       sum(_user_rate(samples) for samples in per_user))


async def _waves(endpoint: Endpoint, concurrency: int, seconds: float,
                 body: Callable[[], bytes], timeout_s: float) -> RoundResult:
    """Burst arrivals: waves of ``concurrency`` requests sent together, on kept connections."""
    deadline = time.perf_counter() + seconds
    connections = [_Connection(endpoint) for _ in range(concurrency)]
    per_user: list[list[Sample]] = [[] for _ in range(concurrency)]
    try:
        while not per_user[0] or time.perf_counter() < deadline:
            bodies = [body() for _ in connections]  # built before the wave, not inside it
            wave = await asyncio.gather(*(conn.answer(b, timeout_s)
                                          for conn, b in zip(connections, bodies, strict=True)))
            for samples, sample in zip(per_user, wave, strict=True):
                samples.append(sample)
            if any(s.error is not None for s in wave):
                await asyncio.sleep(_ERROR_PAUSE_S)
    finally:
        for conn in connections:
            conn.close()
    return RoundResult(tuple(s for samples in per_user for s in samples),
                       sum(_user_rate(samples) for samples in per_user))
