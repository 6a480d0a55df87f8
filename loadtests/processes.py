"""Start, watch and stop the real processes chatperf is made of.

The service's launcher, the load runner and the tests all start the same processes (simulator,
redis-server, the service itself) on free loopback ports and must stop them again, even on
Ctrl-C or failure. This module is the one place that knows how.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LOOPBACK",
    "ManagedProcess",
    "ProcessFailed",
    "free_port",
    "redis_server_available",
    "start_redis",
    "start_service",
    "start_simulator",
    "wait_for_http",
]

LOOPBACK = "127.0.0.1"


class ProcessFailed(RuntimeError):
    """Raised when a child process exits or never becomes ready; carries its log tail."""


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
            raise ProcessFailed(
                f"{process.name} exited with {process.popen.returncode if process.popen else '?'}"
                f" before {url} answered:\n{process.log_tail()}"
            )
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
    tail = f"\n{process.log_tail()}" if process is not None else ""
    raise ProcessFailed(f"{url} not ready after {timeout_seconds}s ({last_error}){tail}")


def redis_server_available() -> bool:
    """Whether a ``redis-server`` binary is on PATH."""
    return shutil.which("redis-server") is not None


def _wait_for_port(proc: ManagedProcess, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ProcessFailed(f"{proc.name} exited early:\n{proc.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, proc.port), 0.2):
            return
        time.sleep(0.05)
    raise ProcessFailed(f"{proc.name} did not listen on {proc.port}:\n{proc.log_tail()}")


def start_redis(port: int | None = None, data_dir: Path | None = None) -> ManagedProcess:
    """A throwaway ``redis-server`` on loopback that keeps nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ProcessFailed("redis-server is not installed (Debian package redis-server)")
    port = port or free_port()
    workdir = data_dir or Path(tempfile.mkdtemp(prefix="chatperf-redis-"))
    argv = [
        binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--protected-mode", "yes",
    ]
    proc = ManagedProcess("redis", argv, port).start()
    _wait_for_port(proc, 10)
    return proc


def start_simulator(
    profile: str = "fast",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """The simulated OpenAI-compatible upstream (``python -m loadtests.simulator``)."""
    port = port or free_port()
    argv = [sys.executable, "-m", "loadtests.simulator", "--host", LOOPBACK, "--port", str(port),
            "--profile", profile, *extra_args]
    proc = ManagedProcess("simulator", argv, port, env=env).start()
    wait_for_http(f"{proc.url}/v1/models", 20, proc)
    return proc


def start_service(
    env: Mapping[str, str],
    port: int | None = None,
    workers: int = 1,
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """The chat service under gunicorn (``python -m service``), waited on until ``/healthz``."""
    port = port or free_port()
    argv = [sys.executable, "-m", "service", "--host", LOOPBACK, "--port", str(port),
            "--workers", str(workers), *extra_args]
    proc = ManagedProcess("service", argv, port, env=dict(env)).start()
    wait_for_http(f"{proc.url}/healthz", 30, proc)
    return proc


@contextlib.contextmanager
def running(proc: ManagedProcess) -> Iterator[ManagedProcess]:
    """Stop ``proc`` when the block ends, however it ends."""
    try:
        yield proc
    finally:
        proc.stop()
