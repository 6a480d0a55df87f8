"""A real NGINX in front of chatperf instances, on a free loopback port, without root.

The config is the one users deploy (``deploy/nginx``, rendered from the instances' settings),
inside a standalone main config whose pid, logs and temporary files live in a throwaway folder.
Tests of the proxy, and load runs through it, start it here.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deploy.nginx.render import ProxyOptions, render, render_standalone
from loadtests.processes import LOOPBACK, ManagedProcess, ProcessFailed, free_port, wait_for_http
from service.settings import Settings

__all__ = ["nginx_binary", "start_nginx"]


def nginx_binary() -> str | None:
    """NGINX's path: on PATH, or where Debian puts it (``/usr/sbin`` is not on every PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def start_nginx(backends: Sequence[str], settings: Settings, port: int | None = None,
                worker_processes: int = 1, **options: Any) -> ManagedProcess:
    """NGINX proxying to ``backends`` (host:port) with the limits ``settings`` give, ready on
    return (its ``/proxy/healthz`` answers); the access log is ``logs/access.log`` in its
    folder, next to the error log that ``log_tail`` shows on failure. ``options``: other
    ``ProxyOptions`` (a fault test's shorter ``fail_timeout_seconds``)."""
    binary = nginx_binary()
    if binary is None:
        raise ProcessFailed("nginx is not installed (Debian package nginx)")
    port = port or free_port()
    prefix = Path(tempfile.mkdtemp(prefix="chatperf-nginx-"))
    options = ProxyOptions(backends=tuple(backends), listen=f"{LOOPBACK}:{port}",
                           access_log=str(prefix / "logs" / "access.log"), **options)
    files = render_standalone(render(options, settings), prefix,
                              worker_processes=worker_processes, error_log_level="info")
    proc = ManagedProcess("nginx", files.argv(binary), port,
                          log_path=prefix / "logs" / "error.log").start()
    wait_for_http(f"http://{LOOPBACK}:{port}/proxy/healthz", 10, proc)
    return proc
