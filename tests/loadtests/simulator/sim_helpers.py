"""Small helpers the simulator tests share: request bodies, SSE decoding, stats polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from loadtests.processes import ManagedProcess

QUESTION = [{"role": "user", "content": "How does a semantic cache cut chat latency?"}]


def chat_body(stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": QUESTION, "stream": stream, **extra}


def data_events(lines: Sequence[str]) -> list[Any]:
    """The ``data:`` payloads of SSE lines, JSON-decoded except ``[DONE]``."""
    payloads = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


def contents(events: Sequence[Any]) -> list[str]:
    """The non-empty content deltas of decoded stream chunks."""
    return [
        e["choices"][0]["delta"]["content"]
        for e in events
        if isinstance(e, dict) and e.get("choices") and e["choices"][0]["delta"].get("content")
    ]


def sim_stats(sim: ManagedProcess) -> dict[str, Any]:
    return httpx.get(f"{sim.url}/sim/stats", timeout=5).json()


def wait_for_stats(
    sim: ManagedProcess, ready: Callable[[dict[str, Any]], bool], timeout_seconds: float = 5.0
) -> dict[str, Any]:
    """Poll ``/sim/stats`` until ``ready`` holds; the last snapshot either way."""
    deadline = time.monotonic() + timeout_seconds
    stats = sim_stats(sim)
    while not ready(stats) and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = sim_stats(sim)
    return stats
