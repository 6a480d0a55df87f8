"""API keys guard the chat routes; no secret leaks; cached answers never cross tenants."""

from __future__ import annotations

import httpx
import pytest

from loadtests.processes import ManagedProcess, free_port
from tests.support import stream_chat

CLIENT_KEY = "ck-RECOGNISABLE-client-key-4242"
UPSTREAM_KEY = "sk-RECOGNISABLE-upstream-key-9191"


def test_chat_routes_need_a_valid_key_when_keys_are_set(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_API_KEYS=f"other-key,{CLIENT_KEY}")
    for path in ("/api/chat/stream", "/api/chat/quick", "/v1/chat/completions"):
        body = ({"messages": [{"role": "user", "content": "hi"}]} if path.startswith("/v1")
                else {"message": "hi"})
        missing = httpx.post(f"{service.url}{path}", json=body)
        wrong = httpx.post(f"{service.url}{path}", json=body,
                           headers={"Authorization": "Bearer nope"})
        assert missing.status_code == 401 and wrong.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
    response, events = stream_chat(service.url, {"message": "hi"},
                                   headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert response.status_code == 200 and events[-1].event == "done"
    # stats stay open unless CHAT_PROTECT_STATS is set
    assert httpx.get(f"{service.url}/api/cache/stats").status_code == 200


def test_stats_and_metrics_can_be_protected_too(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_API_KEYS=CLIENT_KEY, CHAT_PROTECT_STATS="1")
    for path in ("/api/cache/stats", "/api/openai/stats", "/metrics"):
        assert httpx.get(f"{service.url}{path}").status_code == 401
        authorised = httpx.get(f"{service.url}{path}",
                               headers={"Authorization": f"Bearer {CLIENT_KEY}"})
        assert authorised.status_code == 200
    assert httpx.get(f"{service.url}/healthz").status_code == 200


def test_no_secret_appears_in_errors_logs_or_metrics(start_chat_service) -> None:
    # An upstream that refuses the connection: every request fails.
    dead_upstream = f"http://127.0.0.1:{free_port()}"
    service = start_chat_service(
        dead_upstream, OPENAI_API_KEY=UPSTREAM_KEY, CHAT_API_KEYS=CLIENT_KEY,
        CHAT_LOG_LEVEL="DEBUG", CHAT_UPSTREAM_MAX_RETRIES="0",
    )
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    _, events = stream_chat(service.url, {"message": "hello"}, headers=auth)
    assert events[-1].event == "error"
    seen = [event.data for event in events]
    seen.append(httpx.post(f"{service.url}/api/chat", json={"message": "hello"},
                           headers=auth).text)
    seen.append(httpx.post(f"{service.url}/api/chat", json={"message": "x"},
                           headers={"Authorization": "Bearer wrong"}).text)
    seen.append(httpx.get(f"{service.url}/metrics").text)
    seen.append(httpx.get(f"{service.url}/api/openai/stats").text)
    seen.append(httpx.get(f"{service.url}/readyz").text)
    seen.append(service.log_tail(10_000))
    for text in seen:
        assert UPSTREAM_KEY not in text and CLIENT_KEY not in text
        assert "RECOGNISABLE" not in text


@pytest.mark.parametrize("isolation", ["tenant-header", "api-key"])
def test_cached_answers_never_cross_tenants(
    start_chat_service, simulator: ManagedProcess, isolation: str
) -> None:
    if isolation == "api-key":
        service = start_chat_service(simulator.url, CHAT_API_KEYS="key-a,key-b")
        first = {"Authorization": "Bearer key-a"}
        second = {"Authorization": "Bearer key-b", "X-Tenant": "public"}
    else:
        service = start_chat_service(simulator.url)
        first, second = {"X-Tenant": "acme"}, {"X-Tenant": "globex"}
    question = {"message": "What is our negotiated discount?"}
    stream_chat(service.url, question, headers=first)
    _, again = stream_chat(service.url, question, headers=first)
    _, other = stream_chat(service.url, question, headers=second)
    assert again[0].json()["cache"] == "hit"
    assert other[0].json()["cache"] == "miss"
