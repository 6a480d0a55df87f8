"""The client's TCP connection, as the simulator needs it: waiting, noticing departure, cutting.

A stalled stream writes nothing, so a failed write cannot reveal that the client left; the
simulator instead waits on the socket itself and treats end-of-file as departure. That is what
lets ``/sim/stats`` show promptly that a client let go of a request. gevent's WSGI handler does
not expose the socket, so ``SocketExposingHandler`` puts it in the WSGI environ.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import gevent
import gevent.select
from gevent.pywsgi import WSGIHandler

__all__ = ["SOCKET_ENVIRON_KEY", "ClientConnection", "SocketExposingHandler"]

SOCKET_ENVIRON_KEY = "chatperf.simulator.socket"

# Watching the socket costs more than writing a token, so short waits (token gaps) just sleep:
# a departed client then shows at the next write or the one after. Longer waits (TTFT, stalls)
# watch, because nothing would be written for a long time.
_WATCH_MIN_SECONDS = 0.05


class SocketExposingHandler(WSGIHandler):
    """gevent's WSGI handler, plus the client socket under ``SOCKET_ENVIRON_KEY``."""

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[SOCKET_ENVIRON_KEY] = self.socket
        return environ


class ClientConnection:
    """Waits that end early when the client goes away; an abrupt cut of the connection."""

    def __init__(self, sock: socket.socket | None) -> None:
        # No socket (an in-process test client) means plain sleeps and no departure detection.
        self._sock = sock
        self._peer_talks = False
        self.gone = False

    def wait_until(self, deadline: float) -> bool:
        """Sleep until ``deadline`` (``time.monotonic``); ``False`` as soon as the client leaves."""
        while not self.gone:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self._sock is None or self._peer_talks or remaining < _WATCH_MIN_SECONDS:
                gevent.sleep(remaining)
                return True
            if self._readable_within(remaining):
                self.gone = self._closed_by_peer()
                # A client that pipelines its next request keeps the socket readable; fall back
                # to sleeping rather than spinning on it.
                self._peer_talks = not self.gone
        return False

    def _readable_within(self, seconds: float) -> bool:
        # poll, not select: select() cannot watch a descriptor above 1023, and a simulator
        # holding a thousand or more streams has those.
        poller = gevent.select.poll()
        poller.register(self._sock, gevent.select.POLLIN)
        return bool(poller.poll(seconds * 1000))

    def _closed_by_peer(self) -> bool:
        assert self._sock is not None
        try:
            return self._sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def cut(self) -> None:
        """Close the connection mid-response: the bytes already sent arrive, then end-of-file.

        The HTTP body is left unterminated, so the client sees a broken response, not an answer.
        """
        self.gone = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
