"""Fixtures for the fault suite: a simulator per fault, a service with short timeouts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from service.processes import ManagedProcess, start_simulator

# Short deadlines so every fault resolves in about a second.
FAST_FAILING = {
    "CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS": "1.5",
    "CHAT_UPSTREAM_IDLE_TIMEOUT_SECONDS": "1.0",
    "CHAT_UPSTREAM_MAX_RETRIES": "1",
    "CHAT_UPSTREAM_RETRY_AFTER_MAX_SECONDS": "0.5",
    "CHAT_PING_INTERVAL_SECONDS": "0.25",
}


@pytest.fixture
def start_faulty_simulator() -> Iterator[Callable[..., ManagedProcess]]:
    """Start a simulator with the given ``--fault`` flags (and profile); stopped afterwards."""
    started: list[ManagedProcess] = []

    def start(*faults: str, profile: str = "fast", stall_seconds: float = 30) -> ManagedProcess:
        args = ["--seed", "3", "--stall-seconds", str(stall_seconds)]
        for fault in faults:
            args += ["--fault", fault]
        proc = start_simulator(profile, extra_args=args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def sim_stats(simulator: ManagedProcess) -> dict:
    return httpx.get(f"{simulator.url}/sim/stats", timeout=5).json()
