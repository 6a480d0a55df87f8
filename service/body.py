"""Reading a request body as JSON: within a size cap whatever the framing, and a deadline.

A client controls how a body arrives, so every way of sending one is bounded here: the size cap
holds for ``Content-Length`` and chunked bodies alike (413), a body that stops arriving is cut
at ``CHAT_BODY_TIMEOUT_SECONDS`` (408, connection closed), broken chunked framing is a 400
``invalid_body`` (connection closed) rather than a 500, and JSON nested too deeply for the
parser is a 400 rather than a ``RecursionError``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

from flask import Request
from gunicorn.http.errors import ParseException
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from service.errors import (
    BodyTimeout,
    InvalidBody,
    InvalidJSON,
    PayloadTooLarge,
    UnsupportedMediaType,
)

__all__ = ["loads", "read_json_body"]

_CHUNK = 16_384


def loads(raw: bytes | str, what: str = "body", param: str | None = None) -> Any:
    """Parse JSON, turning every way it can fail (depth included) into ``InvalidJSON``."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise InvalidJSON(f"{what} is nested too deeply", param=param) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"{what} is not valid JSON: {exc}", param=param) from None


@contextlib.contextmanager
def _deadline(request: Request, seconds: float) -> Iterator[Any]:
    """The client socket with a read timeout, restored afterwards (gunicorn gives us the socket;
    the in-process test server does not, and then reads are unbounded as before)."""
    sock = request.environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        yield None
        return
    previous = sock.gettimeout()
    try:
        yield sock
    finally:
        sock.settimeout(previous)


def _read_capped(request: Request, length: int | None, limit: int,
                 timeout_seconds: float) -> bytes:
    """Up to ``limit`` + 1 bytes; a body of known ``length`` is not read past its end (all of it
    read: no further read to find the end)."""
    stream = request.stream
    pieces: list[bytes] = []
    size = 0
    deadline = time.monotonic() + timeout_seconds
    with _deadline(request, timeout_seconds) as sock:
        try:
            while size <= limit:
                if sock is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    sock.settimeout(left)
                piece = stream.read(min(_CHUNK, limit + 1 - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
                if length is not None and size >= length:
                    break
        except RequestEntityTooLarge:
            size = limit + 1
        except ParseException as exc:  # gunicorn read the chunked framing and found it broken
            raise InvalidBody("the request body's chunked framing is malformed"
                              f" ({type(exc).__name__})") from None
        except (TimeoutError, OSError, ClientDisconnected):
            # A read that timed out surfaces as a short body (the server hides the time-out).
            if time.monotonic() < deadline:
                raise
            raise BodyTimeout(
                f"the request body did not arrive within {timeout_seconds:g} s"
            ) from None
    if size > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    return b"".join(pieces)


def read_json_body(request: Request, limit: int, timeout_seconds: float) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, slow, non-JSON and malformed bodies.

    Pass the bound request (``bound_request()``), not Flask's proxy: every attribute read
    through the proxy is a context lookup."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"request body is {length} bytes; the limit is {limit}")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {request.mimetype or 'no content type'})"
        )
    body = loads(_read_capped(request, length, limit, timeout_seconds))
    if not isinstance(body, dict):
        raise InvalidJSON("body must be a JSON object")
    return body
