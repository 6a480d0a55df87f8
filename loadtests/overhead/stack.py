"""The processes one overhead run compares: a fixed-delay upstream and what stands in front of it.

``proxy`` (the default) is the upstream direct against the service in front of it, plus an
optional peer proxy; ``telemetry`` is the upstream direct against two services, telemetry off and
on with spans exported over OTLP. Every side is reached by the same client at the same
OpenAI-compatible route, so the client's own cost is the same on every side.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection

from loadtests.fleet import start_fleet
from loadtests.nginx import start_nginx
from loadtests.processes import LOOPBACK, ManagedProcess, start_service, start_simulator
from service.settings import Settings

from .client import Endpoint
from .config import (
    DIRECT,
    PEER,
    SHORT,
    TELEMETRY_OFF,
    TELEMETRY_ON,
    THROUGH,
    TRANSPORT_HTTPX,
    TRANSPORT_LEAN,
    OverheadConfig,
    Upstream,
    nginx_side,
)

__all__ = ["SPAN_EXPORT_DELAY_MS", "Side", "Stack", "raise_fd_limit", "running_stack",
           "service_env"]

# The telemetry-on service exports its batched spans this often (the SDK's default is 5 000 ms):
# short enough that a round's spans leave within its settle time, long enough to batch them.
SPAN_EXPORT_DELAY_MS = 1000
_SETTLE_S = SPAN_EXPORT_DELAY_MS / 1000 + 0.25


@dataclass(frozen=True)
class Side:
    """One column of the comparison: where the client sends requests and whose CPU is its cost."""

    name: str
    endpoint: Endpoint
    server_pid: int | None  # root of the process tree doing this side's own work (None: direct)
    cached: bool  # answers from a cache, so cache hits are measured too
    upstream_pid: int | None = None  # its own upstream (``SHORT``); None: the stack's
    # The instances behind a proxy side: their CPU is the side's too (``server_pid`` is the
    # proxy, whose own CPU is also given apart, as "proxy").
    backend_pids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Stack:
    """The running processes of one upstream profile."""

    upstream: Upstream
    upstream_pid: int
    sides: tuple[Side, ...]
    spans_exported: dict[str, int]  # filled when the stack stops (telemetry compare only)
    # Seconds after a round's last answer until the work a side defers for it (a batched span
    # export) is done. Every side waits as long before its CPU is read, so deferred work counts
    # in the round that caused it and each side's periodic background work is sampled alike.
    settle_s: float = 0.0


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one; children inherit it. Returns the limit.

    Thousands of idle streams need a socket each in the client, two in the service (client and
    upstream) and one in the upstream.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def service_env(config: OverheadConfig, upstream_url: str, **overrides: str) -> dict[str, str]:
    """The benchmark service's environment: the caller's, minus its chatperf settings."""
    # The benchmark's service must not pick up the caller's settings (a Redis, an API key list).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_"))}
    env.update(
        OPENAI_BASE_URL=f"{upstream_url}/v1",
        CHAT_LOG_LEVEL="WARNING",
        CHAT_PREWARM="0",
        CHAT_MAX_STREAMS_PER_WORKER=str(config.max_streams_per_worker),
        # A burst's next wave goes when its slowest answer ended: a connection that finished
        # early idles that long, seconds at 1,000 idle streams. Past the default 5 s keep-alive
        # the service closes it just as the client reuses it, a race counted as a cut answer
        # that is the benchmark's doing, not the service's.
        CHAT_KEEPALIVE_SECONDS="120",
    )
    env.update(overrides)
    return env


def _serve_receiver(conn: Connection) -> None:
    """Child process: an OTLP receiver, so decoding exports costs neither client nor service."""
    from otel.testing import OtlpReceiver

    with OtlpReceiver() as receiver:
        conn.send(receiver.endpoint)
        conn.recv()  # the stop request
        conn.send(len(receiver.spans()))


@contextlib.contextmanager
def _receiver() -> Iterator[tuple[str, Connection]]:
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_receiver, args=(child,), name="otlp-receiver", daemon=True)
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the OTLP receiver did not start")
        yield parent.recv(), parent
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _start(processes: list[ManagedProcess], proc: ManagedProcess) -> ManagedProcess:
    processes.append(proc)
    return proc


def _simulator(config: OverheadConfig, upstream: Upstream, port: int | None) -> ManagedProcess:
    return start_simulator(
        upstream.profile, port=port,
        extra_args=["--ttft-ms", str(upstream.ttft_ms), "--itl-ms", str(upstream.itl_ms),
                    "--output-tokens", str(upstream.tokens), "--log-level", "WARNING"])


@contextlib.contextmanager
def running_stack(config: OverheadConfig, upstream: Upstream) -> Iterator[Stack]:
    """Start the upstream and the sides for ``upstream``; stop them all when the block ends."""
    processes: list[ManagedProcess] = []
    spans: dict[str, int] = {}
    try:
        with contextlib.ExitStack() as exits:
            sim = _start(processes, _simulator(config, upstream, config.sim_port))
            sides = [Side(DIRECT, Endpoint.from_url(sim.url), None, False)]
            env: Mapping[str, str]
            if config.compare == "telemetry":
                endpoint, receiver = exits.enter_context(_receiver())
                for name, env in (
                    (TELEMETRY_OFF, service_env(config, sim.url, CHAT_TELEMETRY="0")),
                    (TELEMETRY_ON, service_env(
                        config, sim.url, CHAT_TELEMETRY="1", OTEL_TRACES_EXPORTER="otlp",
                        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
                        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                        OTEL_BSP_SCHEDULE_DELAY=str(SPAN_EXPORT_DELAY_MS))),
                ):
                    service = _start(processes, start_service(env, workers=config.workers))
                    sides.append(Side(name, Endpoint.from_url(service.url), service.pid, True))
            elif config.compare == "transport":
                for name, transport in ((TRANSPORT_HTTPX, "httpx"), (TRANSPORT_LEAN, "lean")):
                    env = service_env(config, sim.url, CHAT_UPSTREAM_TRANSPORT=transport)
                    service = _start(processes, start_service(env, workers=config.workers))
                    sides.append(Side(name, Endpoint.from_url(service.url), service.pid, True))
            elif config.instances:
                # Direct to the first instance, and through NGINX in front of the first N.
                env = service_env(config, sim.url)
                fleet = exits.enter_context(start_fleet(max(config.instances), env,
                                                        config.workers))
                first = fleet.instances[0]
                sides.append(Side(THROUGH, Endpoint.from_url(first.url), first.pid, True))
                for count in config.instances:
                    backends = fleet.instances[:count]
                    proxy = _start(processes, start_nginx(
                        [f"{LOOPBACK}:{b.port}" for b in backends], Settings.from_env(env)))
                    sides.append(Side(nginx_side(count), Endpoint.from_url(proxy.url), proxy.pid,
                                      True, backend_pids=tuple(b.pid for b in backends)))
            else:
                service = _start(processes, start_service(service_env(config, sim.url),
                                                           workers=config.workers))
                sides.append(Side(THROUGH, Endpoint.from_url(service.url), service.pid, True))
                if config.peer is not None:
                    sides.append(Side(PEER, Endpoint.from_url(config.peer), config.peer_pid,
                                      False))
                short = config.short if upstream == config.fixed else None
                if short is not None:
                    # The same service before shorter answers: the second answer length.
                    short_sim = _start(processes, _simulator(config, short, None))
                    service = _start(processes, start_service(
                        service_env(config, short_sim.url), workers=config.workers))
                    sides.append(Side(SHORT, Endpoint.from_url(service.url), service.pid, False,
                                      short_sim.pid))
            settle_s = _SETTLE_S if config.compare == "telemetry" else 0.0
            stack = Stack(upstream, sim.pid, tuple(sides), spans, settle_s)
            try:
                yield stack
            finally:
                if config.compare == "telemetry":
                    # Stop the services first so their last spans are flushed to the receiver.
                    for proc in reversed(processes[1:]):
                        proc.stop()
                    receiver.send("stop")
                    spans[TELEMETRY_ON] = int(receiver.recv()) if receiver.poll(10) else -1
    finally:
        for proc in reversed(processes):
            proc.stop()
