"""Fixtures for the fault suite: a simulator per fault, a service with short timeouts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from loadtests.processes import ManagedProcess

# Short deadlines so every fault resolves in about a second.
FAST_FAILING = {
    "CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS": "1.5",
    "CHAT_UPSTREAM_IDLE_TIMEOUT_SECONDS": "1.0",
    "CHAT_UPSTREAM_MAX_RETRIES": "1",
    "CHAT_UPSTREAM_RETRY_AFTER_MAX_SECONDS": "0.5",
    "CHAT_PING_INTERVAL_SECONDS": "0.25",
}


@pytest.fixture
def start_faulty_simulator(start_sim) -> Callable[..., ManagedProcess]:
    """Start a simulator with the given ``--fault`` flags (and profile); stopped afterwards."""

    def start(*faults: str, profile: str = "fast", stall_seconds: float = 30) -> ManagedProcess:
        args = ["--seed", "3", "--stall-seconds", str(stall_seconds)]
        for fault in faults:
            args += ["--fault", fault]
        return start_sim(profile, args)

    return start


def sim_stats(simulator: ManagedProcess) -> dict:
    return httpx.get(f"{simulator.url}/sim/stats", timeout=5).json()
