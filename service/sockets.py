"""Socket checks that must work past descriptor 1023.

A worker holding a thousand streams has two thousand descriptors; ``select()`` refuses any past
1023, so every "is something waiting on this socket?" question goes through ``poll`` here.
"""

from __future__ import annotations

import select
import socket

__all__ = ["has_input"]


def has_input(sock: socket.socket) -> bool:
    """Whether reading ``sock`` would not block: data, end of file, or an error is waiting.

    Raises ``OSError``/``ValueError`` for a socket that is already closed."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))
