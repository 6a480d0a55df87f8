"""A lean HTTP/1.1 transport under the ``openai`` SDK, for the upstream hot path.

The SDK stays in charge of the call — base URL, auth, headers, timeouts, status errors — and
hands the request to the transport of its ``httpx2`` client, the documented place to change how
bytes travel (``http_client=DefaultHttpxClient(transport=...)``). The stock transport
(httpcore2 over h11) costs about 70 µs of CPU for every separately arriving token: an event
object and a state-machine step per chunk, and a pool walk over every connection per request and
per release. That was the largest item left on the service's CPU per answer (docs/performance.md).

This one does what an upstream LLM stream needs and no more: one request written in one send,
the response head parsed once, the body un-chunked straight from the socket buffer (all chunks
that arrived together come out as one piece), and connections kept alive per origin in a plain
LIFO stack, checked for a server-side close before reuse and dropped after an idle expiry. A
server may still close a kept connection just as a request goes out on it; when nothing at all
of a response came back on a reused connection, the request goes once more on a new one (what
browsers and Go's net/http do), so that race is not an upstream error.
HTTP/1.1 only, ``http`` and ``https`` (the SDK's TLS defaults), direct connections only: httpx
ignores ``HTTP(S)_PROXY`` once a transport is given, so the upstream client keeps httpx's own
transport when such a proxy covers the upstream.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2

from service.sockets import has_input

__all__ = ["BODY", "SENT_AT", "LeanTransport"]

# The request extension this transport sets once the request's bytes are on the wire: the
# ``time.monotonic()`` after the send, where the upstream's own time begins.
SENT_AT = "chatperf.sent_at"
# The response extension that holds the body itself, for a reader that waits on it with its own
# deadlines (``_Body.read``) instead of iterating it.
BODY = "chatperf.body"

_MAX_HEAD = 64 * 1024
_CRLF, _TRAILERS = -2, -3  # a chunked body's states besides a chunk's bytes still to come
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_RECV = 65536
_IDLE_EXPIRY_SECONDS = 5.0  # httpx's default keep-alive expiry: most servers close later


class _Unanswered(Exception):
    """The connection failed before a single byte of the response: ``error`` says how to the
    SDK, the exception's cause (if any) is the socket's own error."""

    def __init__(self, error: httpx2.TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _Connection:
    """One socket to an origin, and since when it has been idle in the pool."""

    __slots__ = ("idle_since", "origin", "sock")

    def __init__(self, sock: socket.socket, origin: tuple[str, str, int]) -> None:
        self.sock = sock
        self.origin = origin
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        """Whether it may carry another request: not idle past the expiry (the server may be
        closing it), and nothing waiting to be read (a close, or stray bytes)."""
        if now - self.idle_since > _IDLE_EXPIRY_SECONDS:
            return False
        try:
            return not has_input(self.sock)
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _receive(sock: socket.socket, request: httpx2.Request) -> bytes:
    """What has arrived (``b""`` at end of file), socket errors as httpx's, which the SDK maps."""
    try:
        return sock.recv(_RECV)
    except TimeoutError as exc:
        raise httpx2.ReadTimeout("timed out reading the response", request=request) from exc
    except OSError as exc:
        raise httpx2.ReadError(str(exc) or type(exc).__name__, request=request) from exc


class _Pool:
    """Idle keep-alive connections per origin, newest first."""

    def __init__(self, max_idle_per_origin: int) -> None:
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_origin
        self._closed = False

    def take(self, origin: tuple[str, str, int]) -> _Connection | None:
        now = time.monotonic()
        while True:
            with self._lock:
                stack = self._idle.get(origin)
                if not stack:
                    return None
                connection = stack.pop()
            if connection.usable(now):
                return connection
            connection.close()

    def give_back(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            stack = self._idle.setdefault(connection.origin, [])
            if not self._closed and len(stack) < self._max_idle:
                stack.append(connection)
                return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            stacks, self._idle = list(self._idle.values()), {}
        for stack in stacks:
            for connection in stack:
                connection.close()


class _Body(httpx2.SyncByteStream):
    """A response body read from the connection: chunked, sized, or until the server closes.

    ``read`` gives it piece by piece, each piece everything that arrived together, and can wait
    a bounded time for the next: the upstream client reads a stream that way in the request's
    own greenlet, waking for the keep-alive ping and the next-token deadline without a reader
    greenlet between the socket and the request (the response's ``BODY`` extension). Iterating
    it (httpx's ``iter_raw``) reads with the SDK's read timeout.

    The connection goes back to the pool once the body was read to its end and both sides allow
    keep-alive; closing the stream earlier closes the socket, which the upstream sees as the
    client going away (and stops generating)."""

    def __init__(self, pool: _Pool, connection: _Connection, buffer: bytes, framing: str,
                 length: int, keep_alive: bool, request: httpx2.Request) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._buffer = buffer
        self._at = 0  # where the unread part of ``_buffer`` begins
        self._framing = framing  # "chunked" | "length" | "close"
        # "length": body bytes still to come. "chunked": data bytes of the current chunk still
        # to come; 0: a chunk-size line is next, _CRLF: a chunk's CRLF, _TRAILERS: the trailers.
        self._remaining = length if framing == "length" else 0
        self._keep_alive = keep_alive
        self._request = request
        self._read_timeout: float | None = connection.sock.gettimeout()  # the SDK's
        self._timeout = self._read_timeout  # the socket's now
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        while piece := self.read():
            yield piece

    def read(self, timeout: float | None = None) -> bytes | None:
        """The body's next piece: all that arrived together, ``b""`` once the body was read to
        its end (the connection is then released), or ``None`` if ``timeout`` seconds passed
        with nothing new (0: only what has already arrived). Without a timeout it waits the
        SDK's read timeout, then raises httpx's ``ReadTimeout``. A read that timed out loses
        nothing: the next one goes on where it stopped."""
        if self._complete:
            return b""
        if self._framing == "chunked":
            piece = self._chunked(timeout)
        elif self._framing == "length":
            piece = self._sized(timeout)
        else:
            piece = self._until_close(timeout)
        if self._complete:
            self._release()
        return piece

    def _recv(self, timeout: float | None) -> bytes | None:
        """What arrived (``b""``: the server closed), or ``None`` when ``timeout`` ran out."""
        connection = self._connection
        if connection is None:
            raise httpx2.ReadError("the response was closed", request=self._request)
        sock = connection.sock
        wanted = self._read_timeout if timeout is None else max(timeout, 0.0)
        if wanted != self._timeout:
            sock.settimeout(wanted)
            self._timeout = wanted
        if timeout is None:
            return _receive(sock, self._request)
        try:
            return sock.recv(_RECV)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            return None
        except OSError as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__,
                                   request=self._request) from exc

    def _unread(self) -> bytes:
        data = self._buffer[self._at:] if self._at else self._buffer
        self._buffer, self._at = b"", 0
        return data

    def _more(self, timeout: float | None) -> bytes | None:
        data = self._recv(timeout)
        if data == b"":
            raise httpx2.RemoteProtocolError("the server closed the connection mid-body",
                                             request=self._request)
        return data

    def _sized(self, timeout: float | None) -> bytes | None:
        if self._remaining <= 0:
            self._complete = True
            return b""
        data = self._unread() or self._more(timeout)
        if data is None:
            return None
        piece = data[:self._remaining]
        self._remaining -= len(piece)
        if len(data) > len(piece):
            self._keep_alive = False  # bytes past the response: do not reuse
        self._complete = self._remaining <= 0
        return piece

    def _until_close(self, timeout: float | None) -> bytes | None:
        self._keep_alive = False
        data = self._unread() or self._recv(timeout)
        if data == b"":
            self._complete = True
        return data

    def _chunked(self, timeout: float | None) -> bytes | None:
        # Read by position in the received bytes (slicing off what was read would copy the rest
        # of a burst once per chunk), and a chunk that arrived whole with its CRLF in one step.
        pieces: list[bytes] = []
        buffer, at, remaining = self._buffer, self._at, self._remaining
        while True:
            received = len(buffer)
            while at < received:
                if remaining == 0:
                    end = buffer.find(b"\r\n", at)
                    if end < 0:
                        if received - at > 1024:
                            raise self._malformed("a chunk-size line too long")
                        break
                    line = buffer[at:end]
                    if b";" in line:
                        line = line.split(b";", 1)[0].rstrip(b" \t")  # before an extension
                    # Hex digits only: ``int`` would also take a sign, ``0x``, ``_`` and spaces.
                    if not line or line.strip(_HEX_DIGITS):
                        raise self._malformed("a chunk size that is not hexadecimal")
                    size = int(line, 16)
                    at = end + 2
                    if size == 0:
                        remaining = _TRAILERS
                        continue
                    stop = at + size
                    if stop + 2 <= received:  # the whole chunk is here
                        if buffer[stop:stop + 2] != b"\r\n":
                            raise self._malformed("no CRLF after a chunk")
                        pieces.append(buffer[at:stop])
                        at = stop + 2
                    else:
                        remaining = size
                elif remaining > 0:
                    stop = at + remaining
                    if stop > received:
                        stop = received
                    pieces.append(buffer[at:stop])
                    remaining -= stop - at
                    at = stop
                    if remaining:
                        break  # the rest of this chunk is still on the wire
                    remaining = _CRLF
                elif remaining == _CRLF:
                    if received - at < 2:
                        break
                    if buffer[at:at + 2] != b"\r\n":
                        raise self._malformed("no CRLF after a chunk")
                    at += 2
                    remaining = 0
                else:  # the trailer section after the last chunk, up to its empty line
                    end = buffer.find(b"\r\n", at)
                    if end < 0:
                        if received - at > _MAX_HEAD:
                            raise self._malformed("trailers too long")
                        break
                    last = end == at  # the empty line that ends them
                    at = end + 2
                    if last:
                        if at < received:
                            self._keep_alive = False  # bytes past the response: do not reuse
                        self._complete = True
                        break
            self._buffer, self._at, self._remaining = buffer, at, remaining
            if pieces or self._complete:
                return b"".join(pieces)
            data = self._more(timeout)
            if data is None:
                return None
            buffer = buffer[at:] + data if at < received else data
            at = 0

    def _malformed(self, what: str) -> httpx2.RemoteProtocolError:
        return httpx2.RemoteProtocolError(f"malformed chunked body: {what}",
                                          request=self._request)

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._complete and self._keep_alive:
            self._pool.give_back(connection)
        else:
            connection.close()

    def close(self) -> None:
        self._release()


class LeanTransport(httpx2.BaseTransport):
    """HTTP/1.1 with keep-alive for the upstream: see the module docstring for why."""

    def __init__(self, max_idle_per_origin: int = 256,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = _Pool(max_idle_per_origin)
        self._ssl_context = ssl_context
        self._ssl_lock = threading.Lock()

    def _tls(self) -> ssl.SSLContext:
        with self._ssl_lock:
            if self._ssl_context is None:
                self._ssl_context = httpx2.create_ssl_context()
            return self._ssl_context

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        message = self._serialise(request)
        kept = self._pool.take(origin)
        if kept is not None:
            try:
                return self._exchange(kept, message, timeouts, request)
            except _Unanswered:
                pass  # the server closed it as the request went out: once more, on a new one
        connection = self._connect(origin, timeouts.get("connect"), request)
        try:
            return self._exchange(connection, message, timeouts, request)
        except _Unanswered as unanswered:
            raise unanswered.error from unanswered.__cause__

    def _exchange(self, connection: _Connection, message: bytes, timeouts: dict[str, Any],
                  request: httpx2.Request) -> httpx2.Response:
        """Send ``message`` and read the response head; ``_Unanswered`` if the connection broke
        before any of the response arrived (timeouts are not that: the server may be slow)."""
        try:
            connection.sock.settimeout(timeouts.get("write"))
            try:
                connection.sock.sendall(message)
                request.extensions[SENT_AT] = time.monotonic()
            except TimeoutError as exc:
                raise httpx2.WriteTimeout("timed out sending the request",
                                          request=request) from exc
            except OSError as exc:
                raise _Unanswered(httpx2.WriteError(str(exc) or type(exc).__name__,
                                                    request=request)) from exc
            connection.sock.settimeout(timeouts.get("read"))
            return self._response(connection, request)
        except BaseException:
            connection.close()
            raise

    @staticmethod
    def _serialise(request: httpx2.Request) -> bytes:
        body = request.read()
        lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
        lines.extend(name + b": " + value for name, value in request.headers.raw)
        lines.append(b"")
        lines.append(body)
        return b"\r\n".join(lines)

    def _connect(self, origin: tuple[str, str, int], timeout: float | None,
                 request: httpx2.Request) -> _Connection:
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls().wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"timed out connecting to {host}:{port}",
                                        request=request) from exc
        except OSError as exc:
            raise httpx2.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(sock, origin)

    def _response(self, connection: _Connection, request: httpx2.Request) -> httpx2.Response:
        buffer = b""
        answered = False
        while True:  # informational (1xx) responses come before the real one
            end = buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(buffer) > _MAX_HEAD:
                    raise httpx2.RemoteProtocolError("response head too long", request=request)
                try:
                    data = _receive(connection.sock, request)
                    if not data:
                        raise httpx2.RemoteProtocolError(
                            "the server closed the connection without a response",
                            request=request)
                # A reset or a close; a timeout is not "unanswered": the server may be slow.
                except (httpx2.ReadError, httpx2.RemoteProtocolError) as exc:
                    if answered:
                        raise
                    raise _Unanswered(exc) from exc.__cause__
                answered = True
                buffer += data
                end = buffer.find(b"\r\n\r\n")
            head, buffer = buffer[:end], buffer[end + 4:]
            status_line, *header_lines = head.split(b"\r\n")
            try:
                version, status_text, *reason = status_line.split(b" ", 2)
                status = int(status_text)
            except ValueError:
                raise httpx2.RemoteProtocolError(f"malformed status line {status_line[:80]!r}",
                                                 request=request) from None
            if not version.startswith(b"HTTP/1."):
                raise httpx2.RemoteProtocolError(f"not HTTP/1.x: {version[:20]!r}",
                                                 request=request)
            if 100 <= status < 200 and status != 101:
                continue
            break
        headers: list[tuple[bytes, bytes]] = []
        length = -1
        chunked = False
        keep_alive = version == b"HTTP/1.1"
        for line in header_lines:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx2.RemoteProtocolError("malformed header line", request=request)
            value = value.strip()
            headers.append((name, value))
            lowered = name.lower()
            if lowered == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise httpx2.RemoteProtocolError("malformed Content-Length",
                                                     request=request) from None
            elif lowered == b"transfer-encoding":
                chunked = value.lower().endswith(b"chunked")
            elif lowered == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
        if request.method == "HEAD" or status in (204, 304):
            framing, length = "length", 0
        elif chunked:
            framing = "chunked"
        elif length >= 0:
            framing = "length"
        else:
            framing = "close"
        stream = _Body(self._pool, connection, buffer, framing, max(length, 0), keep_alive,
                       request)
        return httpx2.Response(
            status, headers=headers, stream=stream,
            extensions={"http_version": version, "reason_phrase": reason[0] if reason else b"",
                        BODY: stream},
        )

    def close(self) -> None:
        self._pool.close()
