"""Fixtures for the simulator tests; the shared ``fast`` ``simulator`` comes from tests/conftest."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import openai
import pytest

from service.processes import ManagedProcess, start_simulator


@pytest.fixture
def start_sim() -> Iterator[Callable[..., ManagedProcess]]:
    """Start extra simulators (other profile, seed or faults); all stopped after the test."""
    started: list[ManagedProcess] = []

    def start(profile: str = "fast", extra_args: Sequence[str] = ()) -> ManagedProcess:
        proc = start_simulator(profile, extra_args=extra_args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def client(simulator: ManagedProcess) -> Iterator[openai.OpenAI]:
    """The real OpenAI SDK pointed at the simulator, with its own retries off."""
    with openai.OpenAI(base_url=f"{simulator.url}/v1", api_key="sk-sim", max_retries=0,
                       timeout=20) as sdk:
        yield sdk
