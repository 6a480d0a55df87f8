"""Fixtures for the simulator tests; the shared ``fast`` ``simulator`` comes from tests/conftest."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from loadtests.processes import ManagedProcess


@pytest.fixture
def client(simulator: ManagedProcess) -> Iterator[openai.OpenAI]:
    """The real OpenAI SDK pointed at the simulator, with its own retries off."""
    with openai.OpenAI(base_url=f"{simulator.url}/v1", api_key="sk-sim", max_retries=0,
                       timeout=20) as sdk:
        yield sdk
