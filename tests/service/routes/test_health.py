"""``/health``: liveness where vLLM-style tools look for it, as ``/healthz`` answers it.

guidellm's OpenAI backend, and load balancers set up for vLLM or TGI, probe ``GET /health``;
before, the service answered them 404 and such a tool reported the service down.
"""

from __future__ import annotations

import httpx

from loadtests.processes import ManagedProcess


def test_health_answers_as_healthz_does(chat_service: ManagedProcess) -> None:
    health = httpx.get(f"{chat_service.url}/health")
    healthz = httpx.get(f"{chat_service.url}/healthz")
    assert health.status_code == healthz.status_code == 200
    assert health.headers["content-type"] == "application/json"
    assert health.json() == healthz.json() == {"status": "ok"}
    assert httpx.head(f"{chat_service.url}/health").status_code == 200


def _served_gets(url: str) -> float:
    """How many GETs the server's request metrics counted (200s, every traced route)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith('http_server_duration_milliseconds_count{http_method="GET",'
                           'http_status_code="200"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_health_is_described_and_not_counted_as_traffic(chat_service: ManagedProcess) -> None:
    described = httpx.get(f"{chat_service.url}/openapi.json").json()["paths"]
    assert "get" in described["/health"]
    before = _served_gets(chat_service.url)
    assert before >= 1  # the description's GET: the count is there to read
    for _ in range(3):
        assert httpx.get(f"{chat_service.url}/health").status_code == 200
    # Probes stay out of the request metrics and traces, as /healthz does, so a load
    # balancer probing every second does not dilute the latency an SRE reads.
    assert _served_gets(chat_service.url) == before
