"""``/metrics`` of a two-worker gunicorn service counts every request once.

Each worker writes its own snapshot into the shared folder; whichever worker answers the scrape
merges them. Sibling snapshots are at most about a second old, so the scrape is retried briefly.
The figure checked is ``chat.requests``, which counts every request once whatever its outcome.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from loadtests.processes import ManagedProcess
from otel import semconv
from otel.testing import wait_until
from tests.support import stream_chat

REQUESTS = 12


def _requests(text: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == semconv.PROM_REQUESTS)


def test_two_workers_count_each_request_once(
    simulator: ManagedProcess, start_chat_service: Callable[..., ManagedProcess], tmp_path: Path
) -> None:
    service = start_chat_service(simulator.url, workers=2, CHAT_METRICS_DIR=str(tmp_path))

    def ask(_: int) -> None:
        # How a stream ends is tested elsewhere; here each request must be counted once,
        # whatever its outcome (a stream cut short is counted as "cancelled").
        with contextlib.suppress(httpx.TransportError):
            stream_chat(service.url, {"message": f"Tell me about {uuid.uuid4().hex}"})

    with ThreadPoolExecutor(REQUESTS) as pool:
        list(pool.map(ask, range(REQUESTS)))

    def scrape() -> float:
        return _requests(httpx.get(f"{service.url}/metrics", timeout=10).text)

    assert wait_until(lambda: scrape() == REQUESTS, 3.0)
    # Stable: repeated scrapes (served by either worker) neither add nor lose requests.
    assert [scrape() for _ in range(6)] == [REQUESTS] * 6
    snapshots = sorted(tmp_path.glob("worker-*.prom"))
    assert len(snapshots) == 2
    assert sum(_requests(path.read_text()) for path in snapshots) == REQUESTS
