"""A lean asyncio client for streamed chat completions: raw HTTP/1.1 over asyncio streams.

The benchmark resolves single milliseconds of proxy overhead, so the client must cost far less
than that per request and must cost the same whichever server it talks to. An HTTP library (or
Locust) adds a millisecond or more of its own per request; this client writes one request, reads
chunked SSE bytes and parses JSON only until the first content token. Each virtual user keeps
one keep-alive connection, as a real OpenAI client does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Endpoint", "RoundResult", "Sample", "ask", "run_round"]

_HEADER_END = b"\r\n\r\n"
_CHUNK_LINE_END = b"\r\n"
_READ_LIMIT = 1 << 20


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


class _StreamError(Exception):
    """The answer did not complete; the message is the error kind counted in the summary."""


class _Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(
                self.endpoint.host, self.endpoint.port, limit=_READ_LIMIT
            )
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _request_bytes(endpoint: Endpoint, body: bytes) -> bytes:
    head = (
        f"POST {endpoint.path} HTTP/1.1\r\nHost: {endpoint.host}:{endpoint.port}\r\n"
        f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer sk-overhead\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


class _Body:
    """Reads the response body (chunked, sized or until close) as successive pieces."""

    def __init__(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
        self.reader = reader
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        self.remaining = int(length) if length is not None and not self.chunked else None
        self.finished = False

    async def read(self) -> bytes:
        """The next piece of the body; ``b""`` once it has ended."""
        if self.finished:
            return b""
        if self.chunked:
            size_line = await self.reader.readuntil(_CHUNK_LINE_END)
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                while await self.reader.readuntil(_CHUNK_LINE_END) != _CHUNK_LINE_END:
                    pass  # trailers
                self.finished = True
                return b""
            return (await self.reader.readexactly(size + 2))[:-2]
        if self.remaining is not None:
            if self.remaining == 0:
                self.finished = True
                return b""
            data = await self.reader.read(min(self.remaining, 65536))
            if not data:
                raise _StreamError("cut")
            self.remaining -= len(data)
            return data
        data = await self.reader.read(65536)
        self.finished = not data
        return data


def _content(payload: bytes) -> str | None:
    """The content delta of one ``data:`` payload; raises on an in-band error object."""
    obj = json.loads(payload)
    if "error" in obj:
        raise _StreamError("error-event")
    choices = obj.get("choices") or [{}]
    return (choices[0].get("delta") or {}).get("content")


async def _stream(conn: _Connection, request: bytes, started: float) -> Sample:
    reader, writer = await conn.open()
    writer.write(request)
    await writer.drain()
    status, headers = _parse_head(await reader.readuntil(_HEADER_END))
    if status != 200:
        conn.close()  # the error body is not needed; a fresh connection is simpler than draining
        raise _StreamError(f"http-{status}")
    body = _Body(reader, headers)
    first_token: float | None = None
    tokens, done, buffer = 0, False, b""
    while piece := await body.read():
        buffer += piece
        if b"\r\n" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue  # comments (": ping"), event names, ids
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                elif first_token is None:
                    if _content(payload):
                        first_token = time.perf_counter()
                        tokens += 1
                elif b'"error"' in payload:
                    _content(payload)  # raises if it is an error object, not a token
                    tokens += 1
                elif b'"content"' in payload:
                    tokens += 1
    if headers.get("connection", "").lower() == "close" or not body.chunked:
        conn.close()
    ended = time.perf_counter()
    if not done:
        raise _StreamError("no-done")
    return Sample(started, first_token, ended, tokens, None if first_token else "no-token",
                  headers.get("x-cache"))


async def _one(conn: _Connection, request: bytes, timeout_s: float) -> Sample:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            return await _stream(conn, request, started)
    except _StreamError as exc:
        kind = str(exc)
    except TimeoutError:
        kind = "timeout"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        kind = type(exc).__name__
    conn.close()
    return Sample(started, None, time.perf_counter(), 0, kind, None)


async def ask(endpoint: Endpoint, body: bytes, timeout_s: float = 60.0) -> Sample:
    """One streamed answer on a connection of its own (a warm-up or a probe)."""
    conn = _Connection(endpoint)
    try:
        return await _one(conn, _request_bytes(endpoint, body), timeout_s)
    finally:
        conn.close()


@dataclass(frozen=True)
class RoundResult:
    """Every sample of one round, and the window in which throughput is counted."""

    samples: tuple[Sample, ...]
    window_start: float  # after the ramp: every user has started
    window_end: float  # the round's deadline: no request starts after it
    ended: float  # the last answer of the round finished

    def answers_in_window(self) -> int:
        """Complete answers that ended inside the window (the steady state)."""
        return sum(1 for s in self.samples
                   if s.error is None and self.window_start <= s.ended <= self.window_end)


async def run_round(
    endpoint: Endpoint,
    concurrency: int,
    seconds: float,
    body: Callable[[], bytes],
    ramp_s: float = 0.0,
    timeout_s: float = 60.0,
) -> RoundResult:
    """``concurrency`` users, each asking in a loop until ``seconds`` have passed; all answers end.

    Users start evenly spread over ``ramp_s`` so that their answers do not stay in lockstep.
    ``body()`` gives each request's JSON body (a new prompt each time, or a repeated one).
    """
    start = time.perf_counter()
    deadline = start + ramp_s + seconds
    samples: list[Sample] = []

    async def user(index: int) -> None:
        conn = _Connection(endpoint)
        try:
            await asyncio.sleep(ramp_s * index / concurrency)
            while time.perf_counter() < deadline:
                samples.append(await _one(conn, _request_bytes(endpoint, body()), timeout_s))
        finally:
            conn.close()

    await asyncio.gather(*(user(i) for i in range(concurrency)))
    return RoundResult(tuple(samples), start + ramp_s, deadline, time.perf_counter())
