"""Running the service for real: gunicorn with gevent workers, and the embedded simulator.

``serve()`` is what ``python -m service`` calls. With no upstream configured it first starts the
simulated upstream (``loadtests.simulator``) and points the workers at it, saying so. Each worker
builds its own app after fork (telemetry threads and connections do not survive a fork) and
shares a metrics folder with its siblings so ``/metrics`` and the stats cover all of them.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import signal
import sys
import tempfile
from typing import Any
from urllib.parse import urlsplit

from gunicorn.app.base import BaseApplication

from loadtests.processes import ManagedProcess, start_simulator
from service.cache.pack import load_pack
from service.llm.client import redact_url
from service.settings import Settings

__all__ = ["LoopError", "serve", "use_simulator"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "0.0.0.0", "::1", "::", ""})


class LoopError(RuntimeError):
    """Raised when ``OPENAI_BASE_URL`` points at the service itself: every answer would wait
    on itself until it timed out."""


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
    """On SIGTERM, stop admitting answers and start the grace period before gunicorn's exit."""
    parts = worker.wsgi.extensions["chatperf"]
    stop_accepting = worker.handle_exit

    def on_sigterm(signum: int, frame: Any) -> None:
        parts.admission.begin_shutdown(parts.settings.shutdown_grace_seconds)
        stop_accepting(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


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


def _raise_fd_limit(streams: int) -> None:
    """Each open stream holds two sockets (client and upstream): lift the soft file limit to the
    hard one, so a worker can hold its stream cap, and say so if even that is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 2 * streams + 256)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < 2 * streams + 256:
        log.warning("open-file limit %d is below what %d streams need (%d); raise `ulimit -n`",
                    soft, streams, 2 * streams + 256)


def serve(host: str, port: int, workers: int, settings: Settings) -> int:
    """Run the service until SIGTERM/SIGINT; returns the exit code."""
    configure_logging(settings.log_level)
    # A pack each worker would refuse stops the service here, with its place.
    pack = load_pack(settings.cache_pack)
    if settings.cache_pack:
        log.info("cache: domain pack %r (%d rules over English)", pack.name, pack.entries)
    _refuse_loop(host, port, settings.openai_base_url)
    _raise_fd_limit(settings.max_streams_per_worker)
    simulator: ManagedProcess | None = None
    try:
        if not settings.uses_simulator:
            _announce_upstream(settings)
        else:
            simulator = start_simulator(settings.sim_profile)
            os.environ["OPENAI_BASE_URL"] = f"{simulator.url}/v1"
            log.warning(
                "upstream: the embedded simulator (profile %s) at %s/v1, since no "
                "OPENAI_BASE_URL or OPENAI_API_KEY is set", settings.sim_profile, simulator.url,
            )
        if settings.metrics_dir is None:
            os.environ["CHAT_METRICS_DIR"] = tempfile.mkdtemp(prefix="chatperf-metrics-")
        if settings.redis_url is None:
            log.info("no REDIS_URL: using the in-memory cache backend (one per worker)")
            if workers > 1:
                log.warning(
                    "%d workers without Redis: each worker has its own cache; set REDIS_URL to "
                    "share it", workers,
                )
        options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "service.worker.ChatWorker",
            # Room above the stream cap for probes, scrapes and the 503s that refuse streams.
            "worker_connections": settings.max_streams_per_worker + 100,
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
        }
        _Gunicorn(options).run()
        return 0
    finally:
        if simulator is not None:
            simulator.stop()

