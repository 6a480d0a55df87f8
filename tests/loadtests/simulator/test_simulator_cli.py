"""``python -m loadtests.simulator`` (make sim) as a user meets it: a taken port is one line,
Ctrl-C and SIGTERM stop it without a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from loadtests.processes import free_port, start_simulator


def test_a_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "loadtests.simulator", "--port", str(port)],
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_it_stops_on_a_signal_without_a_traceback(signum: int) -> None:
    simulator = start_simulator(port=free_port())
    simulator.signal(signum)
    assert simulator.popen is not None and simulator.popen.wait(timeout=30) == 0
    assert "Traceback" not in simulator.log_tail(2000)
