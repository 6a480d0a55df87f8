"""One upstream stream read as it arrives, its chunks handed to the request's greenlet.

The request's own greenlet waits with deadlines (``UpstreamClient``): for the first token, for
the next, and for a keep-alive ping's interval. A helper thread (a greenlet under gevent) asks
the SDK for the raw streaming response, which blocks until the response head arrives. Over the
lean transport (``service/llm/transport.py``) the request then reads the body itself, each
read bounded by the wait it is in: a token that arrives on its own wakes one greenlet, not a
reader and then the request (~35 µs of CPU a token on this box). Over httpx's own transport the
helper reads the body too and hands everything one socket read brought over at once, waking the
request only when it waits. Either way the SSE ``data:`` lines are split here and parsed with
orjson (a few microseconds a chunk instead of a typed object per chunk).
"""

from __future__ import annotations

import _thread
import contextlib
import threading
import time
from collections import deque
from typing import Any

import httpx2
import openai
import orjson

from service.llm.transport import BODY, SENT_AT

__all__ = ["StreamReader"]


def _has_content(chunk: dict[str, Any]) -> bool:
    """Whether a parsed chunk carries answer text (the first one ends the upstream's TTFT)."""
    choices = chunk.get("choices")
    return any((c.get("delta") or {}).get("content") for c in choices or ())


class StreamReader:
    """Reads one upstream stream and hands its parsed chunks to the request.

    ``items`` holds the parsed chunks in order; ``finished`` is set once the last one was added,
    with ``failure`` set first if the stream failed. The request calls ``pull`` when ``items``
    is empty: it returns once there is more (or the end), or ``False`` when its wait ran out.
    ``sent_at`` and ``first_content_at`` are the wire's side of the upstream's TTFT: the
    request's bytes sent (as the lean transport saw it; else just before the SDK was asked),
    and the bytes that held the first content read, before they were parsed and handed over.
    """

    def __init__(self, client: openai.OpenAI, url: str, body: dict[str, Any],
                 headers: dict[str, str]) -> None:
        self.items: deque[Any] = deque()
        self.finished = False
        self.failure: Exception | None = None
        self.headers: httpx2.Headers | None = None
        self.sent_at: float | None = None
        self.first_content_at: float | None = None
        self._waiting = False  # the request waits on ``_ready``: wake it on arrival
        self._ready = threading.Event()
        self._body: Any = None  # the lean transport's body, once the request reads it itself
        self._client = client
        self._url = url
        self._request_body = body
        self._headers = headers
        self._response: Any = None
        self._closed = False
        self._partial = b""  # the start of an SSE line still on the wire
        self._drained = False  # [DONE] seen: what follows is only read to reuse the connection
        # A bare thread (a greenlet under gevent): ``threading.Thread`` would build its own
        # events and locks, and its ``start`` waits for the thread to run, one more trip through
        # the event loop before the request goes on to wait for the first chunk anyway.
        _thread.start_new_thread(self._run, ())

    def pull(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for more chunks or the end; ``False`` if none came.

        Over the lean transport this reads the socket in the caller's greenlet; otherwise (and
        until the response head arrived) it waits for the helper thread's hand-over."""
        body = self._body
        if body is None:
            self._ready.clear()
            self._waiting = True
            try:  # look once more: what came before ``_waiting`` was set did not wake anyone
                if self.items or self.finished or self._body is not None:
                    return True
                return timeout > 0 and self._ready.wait(timeout)
            finally:
                self._waiting = False
        try:
            raw = body.read(timeout)
            if raw is None:
                return False
            if raw:
                self._take(raw)
            if self._drained or not raw:
                self._finish()
        except Exception as exc:  # handed to the caller, who maps and decides
            self._finish(exc)
        return True

    def _wake(self) -> None:
        if self._waiting:
            self._ready.set()

    def _finish(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.finished = True
        self._wake()

    def _run(self) -> None:
        asked = time.monotonic()
        try:
            # The SDK's generic ``post`` (its documented way to reach any endpoint): the same
            # auth, base URL, timeouts and status errors as ``chat.completions.create``, without
            # re-validating our already valid parameters through its typed transform, which
            # costs more CPU than the rest of the call together. The URL is absolute, built
            # once per client (``UpstreamClient.completions_url``).
            response = self._client.post(self._url, body=self._request_body,
                                         options={"headers": self._headers},
                                         cast_to=httpx2.Response, stream=True)
        except Exception as exc:  # handed to the caller, who maps and decides
            if not self._closed:
                self._finish(exc)
            return
        self._response = response
        self.headers = response.headers
        self.sent_at = response.request.extensions.get(SENT_AT, asked)
        body = response.extensions.get(BODY)
        if body is not None and not self._closed:
            self._body = body  # the request reads it from here on, and closes the response
            self._wake()
            return
        try:
            if not self._closed:
                self._read(response)
        except Exception as exc:
            # After [DONE] the answer is complete: what goes wrong reading the rest of the body
            # (a connection dropped before its last chunk) only keeps it from being reused.
            if not self._closed and not self.finished:
                self._finish(exc)
        finally:
            response.close()

    def _read(self, http_response: httpx2.Response) -> None:
        """The helper thread's reading, over a transport whose body is only iterable."""
        for raw in http_response.iter_raw():
            if self._drained:
                continue  # read to the body's end, so the connection goes back to the pool
            if self._closed:
                return
            self._take(raw)
            if self._drained:
                self._finish()
        if not self._drained:
            self._finish()

    def _take(self, raw: bytes) -> None:
        """Parse the SSE lines ``raw`` completes and hand their chunks over at once."""
        read_at = time.monotonic() if self.first_content_at is None else 0.0
        lines = (self._partial + raw if self._partial else raw).split(b"\n")
        self._partial = lines.pop()
        chunks: list[Any] = []
        loads = orjson.loads
        try:
            for line in lines:
                if not line.startswith(b"data:"):
                    continue  # event names, ids, comments and the blank line between events
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self._drained = True
                    break
                chunk = loads(payload)
                if not isinstance(chunk, dict):
                    raise openai.APIError("the upstream sent a chunk that is not an object",
                                          self._response.request, body=chunk)
                if "error" in chunk:
                    raise openai.APIError("the upstream reported an error mid-answer",
                                          self._response.request, body=chunk)
                if self.first_content_at is None and _has_content(chunk):
                    self.first_content_at = read_at
                chunks.append(chunk)
        finally:  # what came before a failure is still the answer's
            if chunks:
                self.items.extend(chunks)
                self._wake()

    def close(self) -> None:
        """Stop reading and close the HTTP response (the upstream sees the disconnect).

        After ``[DONE]`` the rest of the body (usually already in the socket's buffer) is read
        so the connection is kept alive: at once if it is there, else by a helper thread, which
        the SDK's read timeout bounds if an upstream never ends a finished body."""
        self._closed = True
        response = self._response
        if response is None:
            return  # the helper thread closes it when the SDK returns it
        body = self._body
        if self._drained and body is not None:
            with contextlib.suppress(Exception):  # a broken rest only keeps it from reuse
                piece = body.read(0)
                while piece:
                    piece = body.read(0)
                if piece is None:  # the rest is still on the wire
                    _thread.start_new_thread(self._finish_body, (body, response))
                    return
        if not self._drained or body is not None:
            # Closing a connection that already broke may itself raise; it is closed either way.
            with contextlib.suppress(Exception):
                response.close()

    @staticmethod
    def _finish_body(body: Any, response: httpx2.Response) -> None:
        with contextlib.suppress(Exception):
            while body.read():
                pass
        with contextlib.suppress(Exception):
            response.close()
