"""Child processes the service's launcher starts and must stop again: the embedded simulator.

``python -m service --upstream simulator`` answers from the simulated upstream, which is part of
the load harness (``loadtests.simulator``). The service never imports the harness: it runs the
simulator as a child process (``python -m loadtests.simulator``) in its own process group, waits
until it answers and stops it on exit. When the child cannot start — the harness is not
installed, or the profile is unknown — ``ProcessFailed`` carries the child's own last word as a
one-line ``cause``. The harness (``loadtests.processes``) starts its processes the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "SIMULATOR_MODULE",
    "ManagedProcess",
    "ProcessFailed",
    "free_port",
    "start_simulator",
    "wait_for_http",
]

LOOPBACK = "127.0.0.1"
SIMULATOR_MODULE = "loadtests.simulator"  # the harness's simulated upstream, run as a child


class ProcessFailed(RuntimeError):
    """Raised when a child process exits or never becomes ready; carries its log tail, and its
    last line as ``cause`` for a one-line error."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause or message.splitlines()[0]


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    name: str
    argv: Sequence[str]
    port: int
    env: Mapping[str, str] | None = None
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.popen is not None, "process not started"
        return self.popen.pid

    def start(self) -> ManagedProcess:
        if self.log_path is None:
            fd, path = tempfile.mkstemp(prefix=f"chatperf-{self.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(path)
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def last_words(self) -> str:
        """The last non-empty line of the log: a Python error's own line, or usage's complaint."""
        lines = [line.strip() for line in self.log_tail(20).splitlines() if line.strip()]
        return lines[-1] if lines else f"{self.name} exited with {self.returncode}"

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def failed(self, what: str) -> ProcessFailed:
        """The error for a child that ``what`` (e.g. "exited before … answered")."""
        return ProcessFailed(f"{self.name} {what}:\n{self.log_tail()}",
                             f"{self.name} {what}: {self.last_words()}")

    def signal(self, signum: int) -> None:
        """Send a signal to the process's whole group (gunicorn workers included)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self, grace_seconds: float = 10.0, quick: bool = False) -> int | None:
        """SIGTERM (SIGINT when ``quick``: gunicorn's fast shutdown, which does not wait for
        idle keep-alive clients), then SIGKILL after ``grace_seconds``; returns the exit code."""
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGINT if quick else signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Reap anything left in the group (e.g. a worker that outlived its master).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def wait_for_http(
    url: str, timeout_seconds: float = 20.0, process: ManagedProcess | None = None
) -> None:
    """Poll ``url`` until it answers 2xx; fail early when ``process`` exits."""
    deadline = time.monotonic() + timeout_seconds
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise process.failed(f"exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
                last_error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last_error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.05)
    if process is not None:
        raise process.failed(f"did not answer {url} within {timeout_seconds:g}s ({last_error})")
    raise ProcessFailed(f"{url} not ready after {timeout_seconds:g}s ({last_error})")


def start_simulator(
    profile: str = "fast",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """The simulated OpenAI-compatible upstream (``python -m loadtests.simulator``), waited on
    until it answers; ``ProcessFailed`` with its own error line when it cannot start."""
    port = port or free_port()
    argv = [sys.executable, "-m", SIMULATOR_MODULE, "--host", LOOPBACK, "--port", str(port),
            "--profile", profile, *extra_args]
    proc = ManagedProcess("simulator", argv, port, env=env).start()
    wait_for_http(f"{proc.url}/v1/models", 20, proc)
    return proc
