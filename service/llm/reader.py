"""One upstream stream read in a helper thread (a greenlet under gevent), its chunks handed over.

The request's own greenlet waits with deadlines (``UpstreamClient``): for the first token, for
the next, and for a keep-alive ping's interval. The reader does the blocking part: it asks the
SDK for the raw streaming response, splits the SSE ``data:`` lines, parses each with orjson (a
few microseconds a chunk instead of a typed object per chunk) and hands everything one socket
read brought over at once, waking the request only when it waits.
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

from service.llm.transport import SENT_AT

__all__ = ["StreamReader"]


def _has_content(chunk: dict[str, Any]) -> bool:
    """Whether a parsed chunk carries answer text (the first one ends the upstream's TTFT)."""
    choices = chunk.get("choices")
    return any((c.get("delta") or {}).get("content") for c in choices or ())


class StreamReader:
    """Reads one upstream stream in a helper thread and hands parsed chunks over.

    ``items`` holds the parsed chunks in order; ``finished`` is set once the reader added its
    last one, with ``failure`` set first if the stream failed. Everything one read brought is
    added at once, and ``ready`` is set only while the caller says it is ``waiting``: a caller
    that finds ``items`` empty sets ``waiting`` and looks again before it waits, so it never
    sleeps through an arrival, and a chunk that arrives while the caller works costs no wake-up.
    ``sent_at`` and ``first_content_at`` are the wire's side of the upstream's TTFT: the
    request's bytes sent (as the lean transport saw it; else just before the SDK was asked),
    and the bytes that held the first content read, before they were parsed and handed over.
    """

    def __init__(self, client: openai.OpenAI, url: str, body: dict[str, Any],
                 headers: dict[str, str]) -> None:
        self.items: deque[Any] = deque()
        self.finished = False
        self.failure: Exception | None = None
        self.waiting = False
        self.ready = threading.Event()
        self.headers: httpx2.Headers | None = None
        self._client = client
        self._url = url
        self._body = body
        self._headers = headers
        self._response: Any = None
        self._closed = False
        self._drained = False  # [DONE] seen: what follows is only read to reuse the connection
        self.sent_at: float | None = None
        self.first_content_at: float | None = None
        # A bare thread (a greenlet under gevent): ``threading.Thread`` would build its own
        # events and locks, and its ``start`` waits for the thread to run, one more trip through
        # the event loop before the request goes on to wait for the first chunk anyway.
        _thread.start_new_thread(self._run, ())

    def _hand_over(self, chunks: list[Any]) -> None:
        self.items.extend(chunks)
        if self.waiting:
            self.ready.set()

    def _finish(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.finished = True
        if self.waiting:
            self.ready.set()

    def _run(self) -> None:
        asked = time.monotonic()
        try:
            # The SDK's generic ``post`` (its documented way to reach any endpoint): the same
            # auth, base URL, timeouts and status errors as ``chat.completions.create``, without
            # re-validating our already valid parameters through its typed transform, which
            # costs more CPU than the rest of the call together. The URL is absolute, built
            # once per client (``UpstreamClient.completions_url``).
            response = self._client.post(self._url, body=self._body,
                                         options={"headers": self._headers},
                                         cast_to=httpx2.Response, stream=True)
        except Exception as exc:  # handed to the caller, who maps and decides
            if not self._closed:
                self._finish(exc)
            return
        self._response = response
        self.headers = response.headers
        self.sent_at = response.request.extensions.get(SENT_AT, asked)
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
        buffer = b""
        loads = orjson.loads
        for raw in http_response.iter_raw():
            if self._drained:
                continue  # read to the body's end, so the connection goes back to the pool
            if self._closed:
                return
            read_at = time.monotonic() if self.first_content_at is None else 0.0
            lines = (buffer + raw if buffer else raw).split(b"\n")
            buffer = lines.pop()  # the start of a line still on the wire
            chunks: list[Any] = []
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
                                              http_response.request, body=chunk)
                    if "error" in chunk:
                        raise openai.APIError("the upstream reported an error mid-answer",
                                              http_response.request, body=chunk)
                    if self.first_content_at is None and _has_content(chunk):
                        self.first_content_at = read_at
                    chunks.append(chunk)
            finally:  # what came before a failure is still the answer's
                if chunks:
                    self._hand_over(chunks)
            if self._drained:
                self._finish()
        if not self._drained:
            self._finish()

    def close(self) -> None:
        """Stop reading and close the HTTP response (the upstream sees the disconnect).

        After ``[DONE]`` the reader finishes the body itself (usually already in its buffer) and
        closes the response then, so the connection is kept alive; the SDK's read timeout bounds
        an upstream that never ends a finished body."""
        self._closed = True
        response = self._response
        if response is not None and not self._drained:
            # Closing a connection that already broke may itself raise; it is closed either way.
            with contextlib.suppress(Exception):
                response.close()
