"""The service's own counters (``/api/cache/stats``, ``/api/openai/stats``), read around a run.

The difference between a snapshot after the run and one before gives the run's hit rate and
the upstream's own TTFT as the service saw them, to set beside the client-side samples.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from loadtests.processes import wait_for_http

__all__ = ["snapshot", "wait_ready"]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def snapshot(host: str) -> dict[str, Any] | None:
    """Both stats documents, or ``None`` when the service does not expose them (or is down).

    The cache's counters are read last, so the moment this returns is the boundary of the hit
    rate: requests started after it are looked up after the counters were read.
    """
    try:
        openai = _get(f"{host}/api/openai/stats")
        return {"cache": _get(f"{host}/api/cache/stats"), "openai": openai}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_ready(host: str, timeout_s: float = 30.0) -> None:
    """Wait until ``/readyz`` answers 2xx (the upstream and the cache are reachable)."""
    wait_for_http(f"{host}/readyz", timeout_s)
