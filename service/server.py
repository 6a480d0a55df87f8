"""Running the service for real: gunicorn with gevent workers, and the embedded simulator.

``serve()`` is what ``python -m service`` calls. With no upstream configured it first starts the
simulated upstream as a child process (``service.children``; the simulator is the harness's, so
it needs the harness installed) and points the workers at it, saying so. Each worker builds its
own app after fork (telemetry threads and connections do not survive a fork) and shares a
metrics folder with its siblings so ``/metrics`` and the stats cover all of them. Whatever stops
the start — a port in use, a simulator that cannot start, an upstream that is the service
itself — is a ``LaunchError`` with one line for the user.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import resource
import signal
import socket
import sys
import tempfile
from typing import Any
from urllib.parse import urlsplit

from gunicorn.app.base import BaseApplication

from service.cache.pack import load_pack
from service.children import ManagedProcess, ProcessFailed, start_simulator
from service.llm.client import redact_url
from service.settings import Settings

__all__ = ["LaunchError", "LoopError", "default_workers", "serve", "use_simulator"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", ""})


class LaunchError(RuntimeError):
    """Raised when the service cannot start as asked; the message is the one line to show."""


class LoopError(LaunchError):
    """Raised when ``OPENAI_BASE_URL`` points at the service itself: every answer would wait
    on itself until it timed out."""


def default_workers(settings: Settings) -> int:
    """A worker per CPU core when the workers share a cache (Redis) or there is none; one
    otherwise: each worker's in-memory cache is its own, so a question answered by one worker
    would miss on the next."""
    if settings.redis_url is None and settings.cache_enabled:
        return 1
    return os.cpu_count() or 1


def _refuse_taken_port(host: str, port: int) -> None:
    """gunicorn retries a taken port for seconds and then logs; say it at once, in one line."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(f"{host}:{port} is in use by another process: stop it, or "
                                  "choose another --port") from None
            raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def use_simulator() -> None:
    """Make this process (and its workers) use the embedded simulator, whatever the shell's
    ``OPENAI_*`` variables say: a key in the environment must not turn a demo into paid calls."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        os.environ.pop(name, None)


def _refuse_loop(host: str, port: int, base_url: str | None) -> None:
    if not base_url:
        return
    parts = urlsplit(base_url)
    target_port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.hostname or ""
    both_local = target in _LOCAL_HOSTS and host in _LOCAL_HOSTS
    if target_port == port and (target == host or both_local):
        raise LoopError(
            f"OPENAI_BASE_URL={redact_url(base_url)} is this service itself ({host}:{port}); "
            "point it at an upstream LLM, or unset it to use the embedded simulator"
        )


def _announce_upstream(settings: Settings) -> None:
    """Say loudly where answers come from: a real upstream costs money and sees the traffic."""
    if settings.openai_base_url:
        log.info("upstream: %s (OPENAI_BASE_URL)", redact_url(settings.openai_base_url))
    else:
        log.warning("upstream: OpenAI's API (OPENAI_API_KEY is set, OPENAI_BASE_URL is not): "
                    "every answer is a real, billed call; `make serve` or "
                    "`python -m service --upstream simulator` uses the simulator")

log = logging.getLogger("service")

_LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str) -> None:
    from service.request_context import RequestIdFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDK logs every HTTP request at INFO; our own request log is enough.
    for noisy in ("httpx", "httpx2", "openai", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _post_fork(server: Any, worker: Any) -> None:
    configure_logging(os.environ.get("CHAT_LOG_LEVEL", "INFO"))


def _post_worker_init(worker: Any) -> None:
    """On SIGTERM, stop admitting answers and start the grace period before gunicorn's exit.

    A terminal's Ctrl-C reaches every process of its group; the master turns it into one
    SIGQUIT per worker, so a worker ignores the SIGINT itself (a second quit, racing the first
    at exit, ends in a SystemExit traceback from gevent).
    """
    parts = worker.wsgi.extensions["chatperf"]
    stop_accepting = worker.handle_exit

    def on_sigterm(signum: int, frame: Any) -> None:
        parts.admission.begin_shutdown(parts.settings.shutdown_grace_seconds)
        stop_accepting(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    parts = getattr(app, "extensions", {}).get("chatperf") if app is not None else None
    if parts is not None:
        parts.close()


class _Gunicorn(BaseApplication):
    """gunicorn configured in code, loading ``create_app()`` in each worker."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from service.app import create_app

        app = create_app(Settings.from_env())
        app.extensions["chatperf"].telemetry.start_background()
        return app


def _raise_fd_limit(connections: int, streams: int) -> None:
    """Each client connection holds a socket, and each open stream one more to the upstream:
    lift the soft file limit to the hard one, so a worker can hold its caps, and say so if even
    that is too low."""
    needed = connections + streams + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < needed:
        log.warning("open-file limit %d is below what %d connections and %d streams need (%d);"
                    " raise `ulimit -n`", soft, connections, streams, needed)


def _start_simulator(profile: str) -> ManagedProcess:
    try:
        return start_simulator(profile)
    except ProcessFailed as exc:
        cause = exc.cause.removeprefix("simulator ")
        hint = ("; the simulator is part of the load harness: pip install 'chatperf[harness]', "
                "or set OPENAI_BASE_URL" if "No module named" in cause else "")
        raise LaunchError(f"the embedded simulator did not start ({cause}){hint}") from None


def serve(host: str, port: int, workers: int, settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT; returns the exit code."""
    configure_logging(settings.log_level)
    # A pack each worker would refuse stops the service here, with its place.
    pack = load_pack(settings.cache_pack)
    if settings.cache_pack:
        log.info("cache: domain pack %r (%d rules over English)", pack.name, pack.entries)
    _refuse_loop(host, port, settings.openai_base_url)
    _refuse_taken_port(host, port)
    _raise_fd_limit(settings.max_connections_per_worker, settings.max_streams_per_worker)
    simulator: ManagedProcess | None = None
    launcher = os.getpid()
    try:
        if not settings.uses_simulator:
            _announce_upstream(settings)
        else:
            simulator = _start_simulator(settings.sim_profile)
            os.environ["OPENAI_BASE_URL"] = f"{simulator.url}/v1"
            log.warning(
                "upstream: the embedded simulator (profile %s) at %s/v1, since no "
                "OPENAI_BASE_URL or OPENAI_API_KEY is set", settings.sim_profile, simulator.url,
            )
        if settings.metrics_dir is None:
            os.environ["CHAT_METRICS_DIR"] = tempfile.mkdtemp(prefix="chatperf-metrics-")
        if settings.redis_url is None and settings.cache_enabled:
            if workers == 1:
                log.info("no REDIS_URL: one worker, with the in-memory cache (set REDIS_URL to "
                         "run a worker per core sharing one cache)")
            else:
                log.warning(
                    "%d workers without Redis: each worker has its own in-memory cache, so a "
                    "question one answered misses on another; set REDIS_URL to share it", workers,
                )
        options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "service.worker.ChatWorker",
            # Streams, idle keep-alive connections, probes and the 503s that refuse streams;
            # near it the worker sheds the connection that waited longest (service/worker.py).
            "worker_connections": settings.max_connections_per_worker,
            # Connections the kernel holds for the workers: silent ones wait there, never
            # accepted, until they send a request or the header deadline (TCP_DEFER_ACCEPT).
            "backlog": 4096,
            # Room for the grace period, one ping interval to notice it ended, and the goodbyes.
            "graceful_timeout": math.ceil(
                settings.shutdown_grace_seconds + settings.ping_interval_seconds
            ) + 3,
            # Streams may be quiet for a while; the worker heartbeat is separate from requests.
            "timeout": 60,
            "keepalive": settings.keepalive_seconds,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
            "post_fork": _post_fork,
            "post_worker_init": _post_worker_init,
            "worker_exit": _worker_exit,
            "proc_name": "chatperf",
            # gunicorn's control socket is one path per user (~/.gunicorn/gunicorn.ctl), shared
            # by every instance on the machine; chatperf is run by signals and needs none.
            "control_socket_disable": True,
        }
        _Gunicorn(options).run()
        return 0
    finally:
        # A worker is forked inside run() and leaves through here too: only the launcher, the
        # simulator's parent, stops it.
        if simulator is not None and os.getpid() == launcher:
            simulator.stop()

