"""The gunicorn worker: gunicorn's gevent worker, closing idle keep-alive connections on stop.

gunicorn's own worker, once told to stop, waits for every open connection's handler, and a
handler between two requests on a kept-alive connection waits for the next request until the
keep-alive timeout. One idle browser tab or load-balancer connection then holds the shutdown for
``CHAT_KEEPALIVE_SECONDS`` (up to the worker's graceful timeout, which it reaches and logs as
such), and so does a connection accepted but still waiting for its first request. This worker
closes every connection waiting for a request as it stops, as nginx does; a request in flight,
or already sent, is answered, and its connection closes after the response.
"""

from __future__ import annotations

import socket
from typing import Any

from gevent.monkey import get_original
from gunicorn.workers.ggevent import GeventWorker

_select = get_original("select", "select")  # a zero-timeout poll from a signal handler


class ChatWorker(GeventWorker):
    """``GeventWorker`` that knows which connections wait for a request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: set[socket.socket] = set()

    def handle_request(self, listener_name: Any, req: Any, sock: socket.socket,
                       addr: Any) -> None:
        self._waiting.discard(sock)
        super().handle_request(listener_name, req, sock, addr)
        if not self.alive:
            # The worker began stopping during this response: nothing more is read from this
            # connection (gunicorn would wait the keep-alive for a next request).
            raise StopIteration
        self._waiting.add(sock)

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        self._waiting.add(client)
        try:
            super().handle(listener, client, addr)
        finally:
            self._waiting.discard(client)

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        for sock in list(self._waiting):
            try:
                if _select([sock], [], [], 0)[0]:
                    continue  # a request (or the client's close) is already there: serve it
                sock.shutdown(socket.SHUT_RDWR)  # its handler reads the end and closes it
            except (OSError, ValueError):
                pass  # closed meanwhile
