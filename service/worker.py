"""The gunicorn worker: gunicorn's gevent worker, with connection limits that hold under abuse.

gunicorn's worker gives every accepted connection a slot of ``worker_connections`` until it
closes, waits ``keepalive`` seconds for a request's headers (for the first request as for the
next), and on stop waits for every connection's handler. So connections that never send a byte
fill the slots and starve real requests (2,300 of them made every request wait 3-5 s, or time
out with a 120 s keep-alive), and one idle connection holds a shutdown. This worker:

- gives a request's line and headers their own deadline, ``CHAT_HEADER_TIMEOUT_SECONDS``, from
  the connection's accept (first request) or from the first byte of the next request on a
  kept-alive connection, which may wait ``CHAT_KEEPALIVE_SECONDS`` for it; on Linux a new
  connection is not even accepted before it sends something (``TCP_DEFER_ACCEPT``, nginx's
  ``deferred``), so silent connections wait in the kernel, not in a worker slot;
- keeps slots for requests that send something: when open connections near
  ``CHAT_MAX_CONNECTIONS_PER_WORKER``, the one that has waited longest for a request (silent
  since accept, or idle between keep-alive requests) is closed to make room, as HAProxy and
  nginx shed idle connections; connections with a request in progress are never shed;
- on stop, closes every connection waiting for a request at once, as nginx does, and every
  connection accepted after it unread (gunicorn stops accepting up to a second later); a
  request in flight is answered, and its connection closes after the response; one read after
  the stop began is answered 503 (draining) — or, behind a proxy (``CHAT_PROXY_HOPS``), its
  connection is closed unanswered, which the proxy retries on another instance;
- honours an answer's ``Connection: close`` (gunicorn drops the header and keeps the connection
  alive), so a 408 or a 400 for broken framing says "close" and closes;
- stamps each request's arrival (``ARRIVED``) as it hands the parsed head to the app, before
  Flask, its instrumentation or the body read run, so a request's timings start when the
  server has it, not when the route does.
"""

from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.monkey import get_original
from gevent.socket import wait_read
from gunicorn.workers.ggevent import GeventWorker

from service.settings import Settings
from service.timings import ARRIVED

__all__ = ["ChatWorker"]

_DEFER_ACCEPT = getattr(socket, "TCP_DEFER_ACCEPT", None)  # Linux only
_poll = get_original("select", "poll")  # a zero-timeout check that also works from a handler
# Slots kept free to accept the next connection while idle ones are being shed.
_ACCEPT_ROOM = 8


def _pending(sock: socket.socket) -> bool:
    """Whether something (a request, or the client's close) is waiting on ``sock``."""
    poller = _poll()
    poller.register(sock.fileno(), 0x001 | 0x008 | 0x010)  # POLLIN | POLLERR | POLLHUP
    return bool(poller.poll(0))


@dataclass
class _Connection:
    sock: socket.socket
    served: int = 0
    unreader: Any = None  # the parser's read-ahead, which may already hold the next request

    def buffered(self) -> bool:
        return self.unreader is not None and bool(self.unreader.buf.getbuffer().nbytes)


class _NextRequest:
    """``timeout_ctx`` of a kept-alive connection: up to the keep-alive for the next request
    to begin, then the header deadline for its headers. Ends the connection (``StopIteration``,
    which gunicorn's handler takes as "close") when none begins."""

    def __init__(self, connection: _Connection, keepalive: float, header_timeout: float) -> None:
        self._connection = connection
        self._keepalive = keepalive
        self._headers = gevent.Timeout(header_timeout, False)

    def __enter__(self) -> None:
        if not self._connection.buffered():
            try:
                wait_read(self._connection.sock.fileno(), timeout=self._keepalive)
            except TimeoutError:
                raise StopIteration("keep-alive timeout") from None
        self._headers.__enter__()

    def __exit__(self, *exc: Any) -> bool | None:
        return self._headers.__exit__(*exc)


class _HonourClose:
    """The WSGI app, whose ``Connection: close`` gunicorn then honours: gunicorn drops the
    header and decides keep-alive itself, so an answer that must end its connection (a 408,
    broken framing) would say keep-alive. Other attributes are the app's. It is the first
    code a request meets, so it also stamps the request's arrival."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ[ARRIVED] = (time.monotonic(), time.time_ns())

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                start_response.__self__.force_close()  # the bound method's gunicorn Response
            return start_response(status, headers, exc_info)

        return self._app(environ, start)


class ChatWorker(GeventWorker):
    """``GeventWorker`` with a header deadline, idle-connection shedding and a prompt stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = Settings.from_env()
        self._header_timeout = settings.header_timeout_seconds
        self._keepalive = float(settings.keepalive_seconds)
        self._behind_proxy = settings.proxy_hops > 0
        self._connections: dict[Any, _Connection] = {}  # by the greenlet serving it
        # Connections waiting for a request, longest waiting first (dicts keep order).
        self._waiting: dict[socket.socket, None] = {}
        self._shed: set[socket.socket] = set()
        self._deferred = False

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi: Any = _HonourClose(self.wsgi)

    def run(self) -> None:
        # Linux holds a connection in the kernel until its first bytes arrive, so a silent one
        # costs the worker nothing; past the header deadline it is handed over anyway, silent,
        # and closed at once (``handle``).
        for listener in self.sockets:
            if listener.family in (socket.AF_INET, socket.AF_INET6) and _DEFER_ACCEPT:
                listener.setsockopt(socket.IPPROTO_TCP, _DEFER_ACCEPT,
                                    max(1, math.ceil(self._header_timeout)))
                self._deferred = True
        super().run()

    def timeout_ctx(self) -> Any:
        connection = self._connections.get(gevent.getcurrent())
        if connection is None or not connection.served:
            return gevent.Timeout(self._header_timeout, False)
        return _NextRequest(connection, self._keepalive, self._header_timeout)

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        if self._deferred and not _pending(client):
            client.close()  # the kernel held it silent for the whole header deadline
            return
        if not self.alive and self._behind_proxy:
            # Stopping: gunicorn closes the listener only at its next tick (up to a second
            # later). Behind a proxy, a connection accepted meanwhile is closed unread, as if the
            # listener were gone: the proxy tries the next instance (nothing was answered), where
            # the draining 503 would have reached its client (a proxy does not retry a 503:
            # docs/topology.md). A client straight on the instance gets that 503 with Retry-After.
            client.close()
            return
        self._make_room()
        self._connections[gevent.getcurrent()] = _Connection(client)
        self._waiting[client] = None
        try:
            super().handle(listener, client, addr)
        finally:
            self._connections.pop(gevent.getcurrent(), None)
            self._waiting.pop(client, None)
            self._shed.discard(client)

    def handle_request(self, listener_name: Any, req: Any, sock: socket.socket,
                       addr: Any) -> None:
        self._waiting.pop(sock, None)
        if not self.alive and self._behind_proxy:
            # A request read after the stop began (it was already on its way when the worker
            # closed its idle connections): a direct client is told 503 with Retry-After, but a
            # proxy passes a 503 on, while a connection closed unanswered it retries on the
            # next instance (docs/topology.md, "Faults of a fleet").
            raise StopIteration("stopping")
        super().handle_request(listener_name, req, sock, addr)
        if not self.alive:
            # The worker began stopping during this response: nothing more is read from this
            # connection (gunicorn would wait the keep-alive for a next request).
            raise StopIteration
        connection = self._connections.get(gevent.getcurrent())
        if connection is not None:
            connection.served += 1
            connection.unreader = req.unreader
        self._waiting[sock] = None  # now the newest waiting

    def _make_room(self) -> None:
        """Shed the longest-waiting idle connections while open ones near the limit."""
        limit = self.worker_connections - _ACCEPT_ROOM
        if len(self._connections) - len(self._shed) < limit:
            return
        for sock in list(self._waiting):
            if len(self._connections) - len(self._shed) < limit:
                return
            self._close_waiting(sock)

    def _close_waiting(self, sock: socket.socket) -> None:
        try:
            if _pending(sock):
                return  # a request (or the client's close) is already there: serve it
            sock.shutdown(socket.SHUT_RDWR)  # its handler reads the end and closes it
        except (OSError, ValueError):
            pass  # closed meanwhile
        self._waiting.pop(sock, None)
        self._shed.add(sock)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        for sock in list(self._waiting):
            self._close_waiting(sock)
