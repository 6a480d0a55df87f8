"""The simulator's departure watch works on any descriptor, not only those select() can take."""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Iterator

import pytest

from loadtests.simulator.connection import ClientConnection

_HIGH_FD = 1500  # above select()'s FD_SETSIZE of 1024: a simulator holding 2,000 streams has these


@pytest.fixture
def high_fd_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= _HIGH_FD:
        pytest.skip(f"the open-files hard limit {hard} is too low for descriptor {_HIGH_FD}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, _HIGH_FD + 1), hard))
    server_side, client_side = socket.socketpair()
    os.dup2(server_side.fileno(), _HIGH_FD)
    server_side.close()
    high = socket.socket(fileno=_HIGH_FD)
    try:
        yield high, client_side
    finally:
        high.close()
        client_side.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_waits_and_notices_departure_on_a_descriptor_above_1023(
    high_fd_pair: tuple[socket.socket, socket.socket]
) -> None:
    server_side, client_side = high_fd_pair
    assert server_side.fileno() > 1023
    conn = ClientConnection(server_side)
    assert conn.wait_until(time.monotonic() + 0.1) is True  # still there: the wait just ends
    client_side.close()
    assert conn.wait_until(time.monotonic() + 30) is False  # gone: noticed, not waited out
    assert conn.gone
