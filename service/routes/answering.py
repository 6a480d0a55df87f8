"""The one way a route answers: admit, run the pipeline, render, and always let go.

Every chat route (SSE, OpenAI chunks, one JSON document) goes through ``Answer``: it takes an
admission slot, starts the pipeline, and gives both back exactly once — when the response is
closed, when rendering fails, when the client leaves, or when anything raises before a response
exists. Renderers are plain generators of bytes over pipeline events; ``stream`` guards them so
a failure while rendering still ends the stream with the renderer's own error event, and the
shutdown deadline ends it with ``shutting_down`` rather than a silent cut.

Until something is written (a JSON reply, or an OpenAI stream holding its headers for a real
status), no write can tell that the client left: ``unwritten`` checks the client's socket at
every keep-alive instead, so every route lets go of a client that left within one ping interval,
and every route sees the end of the shutdown grace.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Protocol

from flask import Response, request
from werkzeug.datastructures import Headers
from werkzeug.wsgi import ClosingIterator

from service.chat_request import ChatRequest
from service.components import Components
from service.errors import INTERNAL_FAILURE, SHUTTING_DOWN, UpstreamFailure
from service.events import CollectedAnswer, Done, Failed, Keepalive, PipelineEvent, collect_answer
from service.request_context import bound_g, streaming_request_id
from service.sockets import has_input

__all__ = ["SSE_HEADERS", "Answer", "ClientGone", "Renderer", "client_gone"]

log = logging.getLogger(__name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def client_gone() -> bool:
    """Whether the client closed its connection, seen without writing to it: its socket reads
    as at end of file. For a route that holds its headers back, where no write can tell."""
    sock = request.environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return False  # not under gunicorn (the in-process test server): cannot tell
    try:
        return has_input(sock) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class ClientGone(Exception):
    """Raised when the client closed its connection before anything was written to it: the
    answer has been let go, and nobody reads a reply."""


class Renderer(Protocol):
    """Turns pipeline events into the bytes of one streamed response."""

    def render(self, events: Iterator[PipelineEvent]) -> Iterator[bytes]: ...
    def failure(self, failure: UpstreamFailure) -> bytes:
        """The in-band end of a stream that cannot continue."""
        ...


class _AnswerResponse(Response):
    """A streamed answer's response: a generator of bytes with status 200 and no length or
    location, for which werkzeug's copy of the headers, its fix-ups of them, and its pass over
    the body encoding ``str`` pieces change nothing; they are skipped. Any other status, and a
    HEAD request, go werkzeug's way."""

    def get_wsgi_headers(self, environ: dict[str, Any]) -> Headers:
        if self.status_code != 200:
            return super().get_wsgi_headers(environ)
        return self.headers

    def get_app_iter(self, environ: dict[str, Any]) -> Iterable[bytes]:
        if self.status_code != 200 or environ["REQUEST_METHOD"] == "HEAD":
            return super().get_app_iter(environ)
        return ClosingIterator(self.response, self.close)  # type: ignore[arg-type]  # bytes


class Answer:
    """One admitted answer: its events, and the slot and upstream call it holds."""

    def __init__(self, parts: Components, chat: ChatRequest, route: str) -> None:
        self._admission = parts.admission
        self._admission.admit()
        self._released = False
        scope = bound_g()
        self._request_id: str = scope.request_id
        try:
            self.events: Generator[PipelineEvent, None, None] = parts.pipeline.run(
                chat, self._request_id, route, scope.timings
            )
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the pipeline (cancelling its upstream call) and free the slot; idempotent."""
        if self._released:
            return
        self._released = True
        try:
            self.events.close()
        finally:
            self._admission.release()

    def collect(self) -> CollectedAnswer:
        """The whole answer for a JSON reply; raises ``ClientGone``."""
        try:
            return collect_answer(self.unwritten())
        finally:
            self.close()

    def unwritten(self) -> Iterator[PipelineEvent]:
        """The events while nothing is written to the client: keep-alives are not passed on but
        check that the client is still there (``ClientGone`` once it left, the answer let go),
        and past the shutdown deadline the answer ends with ``shutting_down``."""
        for event in self._events(()):
            if isinstance(event, Keepalive):
                if client_gone():
                    self.close()
                    raise ClientGone
                continue
            yield event

    def stream(
        self, renderer: Renderer, first: tuple[PipelineEvent, ...] = (),
        headers: dict[str, str] | None = None,
    ) -> Response:
        """A streamed response of ``renderer``'s bytes; ``first`` are events already read.

        The body needs no request context (Flask's ``stream_with_context``): what it reads of
        the request was taken at construction, and its log lines get the id from
        ``streaming_request_id``."""
        response = _AnswerResponse(self._guarded(renderer, first), mimetype="text/event-stream",
                            headers={**SSE_HEADERS, **(headers or {})})
        # The WSGI server closes every response, even one whose body never started.
        response.call_on_close(self.close)
        return response

    def _events(self, first: tuple[PipelineEvent, ...]) -> Iterator[PipelineEvent]:
        yield from first
        past_deadline: Callable[[], bool] = self._admission.past_deadline
        for event in self.events:
            if past_deadline() and not isinstance(event, Done | Failed):
                yield Failed(SHUTTING_DOWN)
                return
            yield event

    def _guarded(
        self, renderer: Renderer, first: tuple[PipelineEvent, ...]
    ) -> Iterator[bytes]:
        request_id = streaming_request_id.set(self._request_id)
        try:
            yield from renderer.render(self._events(first))
        except GeneratorExit:
            raise
        except Exception:
            log.exception("rendering an answer failed")
            yield renderer.failure(INTERNAL_FAILURE)
        finally:
            self.close()
            with contextlib.suppress(ValueError):  # closed from another context: nothing set
                streaming_request_id.reset(request_id)
