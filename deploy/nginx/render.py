"""Render the NGINX config that puts chatperf instances behind one address.

The template (``chatperf.conf.j2``, for NGINX's ``http`` context) is filled from the service's
own settings, so the proxy's limits are the instances' limits: the body cap and deadline, the
ping interval (a stream may be silent for three), the instances' keep-alive (the proxy closes
idle connections first), the first-token deadline and retries (how long an answer may be silent
before its first byte) and the rate limit (the proxy's backstop never refuses what the service
would accept). ``standalone.conf.j2`` wraps it in a main config that keeps every file under one
folder, for runs without root (tests, the load harness, a laptop).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from service.settings import RateLimit, Settings

__all__ = ["ProxyOptions", "RateBackstop", "StandaloneFiles", "rate_backstop", "render",
           "render_standalone", "stream_read_timeout"]

TEMPLATES = Path(__file__).resolve().parent
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=False,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                          keep_trailing_newline=True)


@dataclass(frozen=True)
class ProxyOptions:
    """What the proxy needs beyond the service's settings."""

    backends: tuple[str, ...]  # host:port of each instance (a name that resolves to several: all)
    listen: str = "127.0.0.1:8080"
    access_log: str = "/var/log/nginx/chatperf.access.log"  # or "off"
    max_fails: int = 2  # failed attempts within fail_timeout that take an instance out...
    fail_timeout_seconds: float = 10.0  # ...for this long, then it is tried again
    connect_timeout_seconds: float = 2.0
    keepalive_connections: int = 32  # idle connections to the instances, per NGINX worker
    command: str = "python -m deploy.nginx"  # how this file was made, written at its top


@dataclass(frozen=True)
class RateBackstop:
    """NGINX's ``limit_req`` for the service's ``CHAT_RATE_LIMIT``."""

    spec: str  # the service's, e.g. "60/minute"
    nginx: str  # e.g. "60r/m"
    burst: int
    retry_after: int  # seconds until the bucket has room for one more


def rate_backstop(limit: RateLimit, spec: str) -> RateBackstop:
    """A leaky bucket never stricter than ``count`` per fixed window: the service's windows let
    through up to two windows' worth at their edge, so the burst is twice the count; NGINX
    counts whole requests per second or minute, so a slower rate rounds up to one a minute."""
    if limit.period_seconds == 1:
        nginx, per_second = f"{limit.count}r/s", float(limit.count)
    else:
        per_minute = math.ceil(limit.count * 60 / limit.period_seconds)
        nginx, per_second = f"{per_minute}r/m", per_minute / 60
    return RateBackstop(spec, nginx, 2 * limit.count, max(1, math.ceil(1 / per_second)))


def stream_read_timeout(ping_interval: float) -> float:
    """Silence that ends a stream at the proxy: three missed pings, and at least a second more
    than one (NGINX moves a running timer only when it would move by over 300 ms, so a shorter
    time-out can fire between pings that arrive on time)."""
    return max(3 * ping_interval, ping_interval + 1.0)


def _duration(seconds: float) -> str:
    """NGINX's time syntax, whole seconds where they are whole."""
    milliseconds = math.ceil(seconds * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def render(options: ProxyOptions, settings: Settings) -> str:
    """The ``http``-context config for ``options.backends`` with ``settings``' limits."""
    if not options.backends:
        raise ValueError("at least one backend (host:port) is needed")
    keepalive = settings.keepalive_seconds
    silent_before_first_byte = (
        (settings.upstream_first_token_timeout_seconds
         + settings.upstream_retry_after_max_seconds) * (settings.upstream_max_retries + 1)
        + settings.upstream_idle_timeout_seconds
    )
    limit = settings.rate_limit_spec
    access_log = "off" if options.access_log == "off" else f"{options.access_log} chatperf"
    return _ENV.get_template("chatperf.conf.j2").render(
        command=options.command,
        backends=options.backends,
        listen=options.listen,
        access_log=access_log,
        max_fails=options.max_fails,
        fail_timeout=_duration(options.fail_timeout_seconds),
        connect_timeout=_duration(options.connect_timeout_seconds),
        keepalive_connections=options.keepalive_connections,
        service_keepalive=keepalive,
        keepalive_timeout=_duration(max(keepalive - 1, keepalive / 2)) if keepalive else None,
        rate=rate_backstop(limit, settings.rate_limit or "") if limit else None,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=_duration(settings.body_timeout_seconds),
        ping_interval=_duration(settings.ping_interval_seconds),
        stream_read_timeout=_duration(stream_read_timeout(settings.ping_interval_seconds)),
        answer_read_timeout=_duration(silent_before_first_byte),
    )


@dataclass(frozen=True)
class StandaloneFiles:
    """A prefix folder NGINX can run from without root, and the command that runs it."""

    prefix: Path
    main: Path
    conf: Path

    def argv(self, binary: str = "nginx") -> list[str]:
        return [binary, "-p", str(self.prefix), "-c", str(self.main),
                "-e", str(self.prefix / "logs" / "error.log"), "-g", "daemon off;"]


def render_standalone(conf_text: str, prefix: Path, worker_processes: int | str = "auto",
                      worker_connections: int = 4096,
                      error_log_level: str = "warn") -> StandaloneFiles:
    """Write ``prefix``/chatperf.conf (``conf_text``) and a main ``nginx.conf`` that keeps its
    pid, logs and temporary files under ``prefix``. Run as root, workers stay root: the prefix
    is not readable by ``nobody``, NGINX's default worker user."""
    prefix = prefix.resolve()
    for folder in ("logs", "tmp"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    conf = prefix / "chatperf.conf"
    conf.write_text(conf_text)
    main = prefix / "nginx.conf"
    main.write_text(_ENV.get_template("standalone.conf.j2").render(
        prefix=prefix, conf=conf, worker_processes=worker_processes,
        worker_connections=worker_connections, error_log_level=error_log_level,
        user="root" if os.geteuid() == 0 else None,
    ))
    return StandaloneFiles(prefix, main, conf)


def backends_from(values: Sequence[str]) -> tuple[str, ...]:
    """``host:port`` values, each checked, in the order given."""
    for value in values:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--backend {value!r}: expected host:port")
    return tuple(values)
