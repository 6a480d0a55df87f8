"""What telemetry costs: requests/s and TTFT with it off and on, measured in one run.

Two services (gunicorn, one worker each) answer from the ``instant`` simulator, so the service's
own work is all there is to measure: one with ``CHAT_TELEMETRY=0``, one with telemetry on and
spans exported over OTLP/HTTP to a local receiver (the production shape, not a cheaper one).
Rounds alternate between the two so drift on the machine hits both alike. Every question is new,
so every request takes the full path: cache lookup, upstream stream, store.
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from loadtests.processes import ManagedProcess, start_service, start_simulator
from otel.testing import OtlpReceiver
from service.sse import iter_events

__all__ = ["Figures", "OverheadReport", "measure_overhead"]

_WARMUP_REQUESTS = 8


@dataclass(frozen=True)
class Figures:
    """One configuration's results over all its rounds."""

    requests: int
    seconds: float
    ttfts: tuple[float, ...]  # of the answers that completed
    failed: int  # streams cut short (transport error or no token); reported, not timed

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def ttft_median_s(self) -> float:
        return statistics.median(self.ttfts)


@dataclass(frozen=True)
class OverheadReport:
    """Telemetry off against on; ratios are on/off."""

    off: Figures
    on: Figures

    @property
    def throughput_ratio(self) -> float:
        return self.on.requests_per_second / self.off.requests_per_second

    @property
    def ttft_ratio(self) -> float:
        return self.on.ttft_median_s / self.off.ttft_median_s

    def render(self) -> str:
        rows = [
            "| telemetry | requests | failed | requests/s | TTFT median (ms) |",
            "|---|---|---|---|---|",
        ]
        for name, figures in (("off", self.off), ("on (OTLP export)", self.on)):
            rows.append(f"| {name} | {figures.requests} | {figures.failed} | "
                        f"{figures.requests_per_second:.1f} | "
                        f"{figures.ttft_median_s * 1000:.2f} |")
        rows.append(f"\nthroughput on/off: {self.throughput_ratio:.3f} · "
                    f"TTFT on/off: {self.ttft_ratio:.3f}")
        return "\n".join(rows)


def _ask(base_url: str) -> float | None:
    """One streamed answer; its client-side TTFT in seconds, ``None`` if it did not complete."""
    started = time.perf_counter()
    ttft: float | None = None
    body = {"message": f"How do plans differ for team {uuid.uuid4().hex}?", "model": "fast"}
    try:
        with httpx.Client(timeout=30) as client, client.stream(
            "POST", f"{base_url}/api/chat/stream", json=body
        ) as response:
            for event in iter_events(response.iter_lines()):
                if event.event == "token" and ttft is None:
                    ttft = time.perf_counter() - started
                elif event.event == "done":
                    return ttft
    except httpx.TransportError:
        pass
    return None


def _round(base_url: str, requests: int, concurrency: int) -> tuple[float, list[float | None]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        ttfts = list(pool.map(lambda _: _ask(base_url), range(requests)))
    return time.perf_counter() - started, ttfts


def _env(upstream_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_"))}
    env.update(OPENAI_BASE_URL=f"{upstream_url}/v1", CHAT_LOG_LEVEL="WARNING", CHAT_PREWARM="0")
    env.update(overrides)
    return env


def measure_overhead(requests: int = 600, concurrency: int = 8, rounds: int = 6) -> OverheadReport:
    """Drive both services with ``requests`` each, in alternating rounds; compare."""
    per_round = max(1, requests // rounds)
    started: list[ManagedProcess] = []
    with OtlpReceiver() as receiver:
        try:
            simulator = start_simulator("instant")
            started.append(simulator)
            off = start_service(_env(simulator.url, CHAT_TELEMETRY="0"))
            started.append(off)
            on = start_service(_env(
                simulator.url, CHAT_TELEMETRY="1", OTEL_TRACES_EXPORTER="otlp",
                OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            ))
            started.append(on)
            results: dict[str, tuple[float, list[float | None]]] = {
                "off": (0.0, []), "on": (0.0, []),
            }
            services = {"off": off, "on": on}
            for service in services.values():
                _round(service.url, _WARMUP_REQUESTS, concurrency)
            for number in range(rounds):
                order = ("off", "on") if number % 2 == 0 else ("on", "off")
                for name in order:
                    seconds, ttfts = _round(services[name].url, per_round, concurrency)
                    total, collected = results[name]
                    results[name] = (total + seconds, collected + ttfts)
        finally:
            for process in reversed(started):
                process.stop()
    figures = {
        name: Figures(len(ttfts), seconds, tuple(t for t in ttfts if t is not None),
                      sum(t is None for t in ttfts))
        for name, (seconds, ttfts) in results.items()
    }
    return OverheadReport(off=figures["off"], on=figures["on"])
