"""Start, watch and stop the real processes chatperf is made of.

The load runner and the tests start the same processes (simulator, redis-server, the service
itself) on free loopback ports and must stop them again, even on Ctrl-C or failure. The
primitives (a managed child, waiting for it to answer, the simulator) are the service launcher's
own (``service.children``, which starts the embedded simulator without importing the harness);
this module adds what only the harness starts.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from service.children import (
    LOOPBACK,
    ManagedProcess,
    ProcessFailed,
    free_port,
    start_simulator,
    wait_for_http,
)

__all__ = [
    "LOOPBACK",
    "ManagedProcess",
    "ProcessFailed",
    "free_port",
    "redis_server_available",
    "start_prometheus",
    "start_redis",
    "start_service",
    "start_simulator",
    "wait_for_http",
]


def redis_server_available() -> bool:
    """Whether a ``redis-server`` binary is on PATH."""
    return shutil.which("redis-server") is not None


def _wait_for_port(proc: ManagedProcess, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not proc.alive():
            raise proc.failed("exited early")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, proc.port), 0.2):
            return
        time.sleep(0.05)
    raise proc.failed(f"did not listen on {proc.port}")


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


def start_prometheus(config_file: Path, data_dir: Path, port: int | None = None) -> ManagedProcess:
    """A throwaway Prometheus (Debian package ``prometheus``) with ``config_file``, ready
    (``/-/ready``) on return; its data stays in ``data_dir``."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise ProcessFailed("prometheus is not installed (Debian package prometheus)")
    port = port or free_port()
    proc = ManagedProcess("prometheus", [
        binary, f"--config.file={config_file}", f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={LOOPBACK}:{port}"], port).start()
    wait_for_http(f"{proc.url}/-/ready", 30, proc)
    return proc
