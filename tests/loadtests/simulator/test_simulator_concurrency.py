"""Hundreds of concurrent streams on one simulator process, all held open and all finished."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from loadtests.processes import ManagedProcess
from tests.loadtests.simulator.sim_helpers import chat_body, data_events, sim_stats, wait_for_stats

STREAMS = 300
# Long enough that every stream is open before the first one finishes.
HEADERS = {"X-Sim-TTFT-Ms": "4000", "X-Sim-Output-Tokens": "10"}


def _one_stream(client: httpx.Client, index: int) -> list[object]:
    body = chat_body(messages=[{"role": "user", "content": f"Question number {index}?"}])
    with client.stream("POST", "/v1/chat/completions", json=body, headers=HEADERS) as response:
        response.raise_for_status()
        return data_events(list(response.iter_lines()))


def test_three_hundred_concurrent_streams_all_complete(simulator: ManagedProcess) -> None:
    before = sim_stats(simulator)
    limits = httpx.Limits(max_connections=STREAMS, max_keepalive_connections=STREAMS)
    with (
        httpx.Client(base_url=simulator.url, limits=limits, timeout=60) as client,
        ThreadPoolExecutor(max_workers=STREAMS) as pool,
    ):
        futures = [pool.submit(_one_stream, client, i) for i in range(STREAMS)]
        held = wait_for_stats(
            simulator, lambda s: s["open_streams"] - before["open_streams"] >= STREAMS, 20
        )
        results = [future.result(timeout=60) for future in futures]
    assert held["open_streams"] - before["open_streams"] == STREAMS  # all open at once
    assert all(events[-1] == "[DONE]" for events in results)
    assert all(len(events) == 1 + 10 + 1 + 1 for events in results)  # role, tokens, finish, DONE
    after = sim_stats(simulator)
    assert after["completed_streams"] - before["completed_streams"] == STREAMS
    assert after["open_streams"] == before["open_streams"]
