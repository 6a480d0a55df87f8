"""One gunicorn worker (gevent) carries hundreds of concurrent streams to completion."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from loadtests.processes import ManagedProcess
from service.sse import iter_events

STREAMS = 200


def _one_stream(url: str, index: int) -> list[str]:
    with httpx.Client(timeout=60) as client, client.stream(
        "POST", f"{url}/api/chat/stream", json={"message": f"Concurrency question number {index}"}
    ) as response:
        response.raise_for_status()
        return [event.event for event in iter_events(response.iter_lines())]


def test_200_concurrent_streams_complete_through_one_worker(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, workers=1)
    with ThreadPoolExecutor(max_workers=STREAMS) as pool:
        results = list(pool.map(lambda i: _one_stream(service.url, i), range(STREAMS)))
    completed = [names for names in results if names[0] == "meta" and names[-1] == "done"]
    assert len(completed) == STREAMS
    stats = httpx.get(f"{service.url}/api/openai/stats").json()
    assert stats["requests_by_outcome"] == {"ok": STREAMS}
