"""Issue 21, item 7: behind reverse proxies the limits see each client, and nobody can forge one.

Behind a proxy every request comes from the proxy's address, so all browsers shared one
beacon (and chat) rate limit. ``CHAT_PROXY_HOPS`` says how many proxies in front append to
``X-Forwarded-For``: the address that many places from the right is the client. Without it the
header is ignored, since any client can send one.
"""

from __future__ import annotations

import httpx
import pytest

from loadtests.processes import ManagedProcess

pytestmark = pytest.mark.integration

BEACON = {"first_paint_ms": 120, "cache": "hit"}


def _beacon(service: ManagedProcess, forwarded: str) -> int:
    return httpx.post(f"{service.url}/api/client/timings", json=BEACON,
                      headers={"X-Forwarded-For": forwarded}).status_code


def _chat(service: ManagedProcess, forwarded: str) -> int:
    return httpx.post(f"{service.url}/api/chat/quick", json={"message": "hi"},
                      headers={"X-Forwarded-For": forwarded}).status_code


def test_behind_one_proxy_each_client_has_its_own_limits(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_PROXY_HOPS="1", CHAT_RATE_LIMIT="2/hour",
                                 CHAT_CLIENT_TIMINGS_RATE_LIMIT="2/hour")
    # The proxy appends the address it saw; what the client wrote before it is not trusted.
    alice = [_beacon(service, f"6.6.6.{i}, 10.0.0.1") for i in range(3)]
    bob = [_beacon(service, "10.0.0.2") for _ in range(3)]
    assert alice == [204, 204, 429] and bob == [204, 204, 429]
    assert [_chat(service, f"6.6.6.{i}, 10.0.0.3") for i in range(3)] == [200, 200, 429]
    assert _chat(service, "10.0.0.4") == 200


def test_without_proxies_a_forwarded_header_changes_nothing(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_CLIENT_TIMINGS_RATE_LIMIT="2/hour")
    assert [_beacon(service, f"10.0.0.{i}") for i in range(3)] == [204, 204, 429]
