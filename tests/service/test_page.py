"""The chat page and its timing beacon over real HTTP: served without a key, strict, bounded.

What the page does in a browser is tested in ``tests/browser``; here: what any client of
``GET /`` and ``POST /api/client/timings`` sees.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadtests.processes import ManagedProcess
from otel import semconv

pytestmark = pytest.mark.integration

BEACON = "/api/client/timings"


def _client_histograms(base_url: str) -> dict[tuple[str, str], float]:
    """``(sample name, cache_hit label) → value`` of the chat.client.* histograms."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    names = (semconv.PROM_CLIENT_FIRST_PAINT, semconv.PROM_CLIENT_LAST_PAINT)
    figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(names) and sample.name.endswith(("_sum", "_count")):
                assert set(sample.labels) == {semconv.LABEL_CACHE_HIT}, sample.labels
                figures[(sample.name, sample.labels[semconv.LABEL_CACHE_HIT])] = sample.value
    return figures


def test_the_page_and_its_files_are_served(chat_service: ManagedProcess) -> None:
    page = httpx.get(f"{chat_service.url}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/ui/app.js"' in page.text and 'data-auth="none"' in page.text
    for name, kind in (("sse.js", "javascript"), ("app.js", "javascript"),
                       ("app.css", "text/css")):
        asset = httpx.get(f"{chat_service.url}/ui/{name}", timeout=10)
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    # Nothing from another origin: the page must work offline.
    assert "http://" not in page.text and "https://" not in page.text


def test_a_beacon_is_recorded_as_client_histograms(chat_service: ManagedProcess) -> None:
    before = _client_histograms(chat_service.url)
    response = httpx.post(f"{chat_service.url}{BEACON}", timeout=10, json={
        "first_paint_ms": 412.5, "last_paint_ms": 5873.0, "cache": "miss"})
    assert response.status_code == 204
    hit = httpx.post(f"{chat_service.url}{BEACON}", timeout=10,
                     json={"first_paint_ms": 20.0, "cache": "hit"})
    assert hit.status_code == 204
    after = _client_histograms(chat_service.url)

    def delta(name: str, label: str) -> float:
        return after.get((name, label), 0.0) - before.get((name, label), 0.0)

    first, last = semconv.PROM_CLIENT_FIRST_PAINT, semconv.PROM_CLIENT_LAST_PAINT
    assert delta(f"{first}_count", "false") == 1
    assert delta(f"{first}_sum", "false") == pytest.approx(0.4125)
    assert delta(f"{last}_sum", "false") == pytest.approx(5.873)
    assert delta(f"{first}_count", "true") == 1
    # No last paint was reported for the hit, so none is recorded.
    assert delta(f"{last}_count", "true") == 0


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "mentions"),
    [
        ({"json": {"first_paint_ms": 300, "cache": "miss", "user": "ann"}}, 422,
         "invalid_request", "unknown field"),
        ({"json": {"cache": "miss"}}, 422, "invalid_request", "first_paint_ms"),
        ({"json": {"first_paint_ms": 300}}, 422, "invalid_request", "cache"),
        ({"json": {"first_paint_ms": 300, "cache": "warm"}}, 422, "invalid_request", "cache"),
        ({"json": {"first_paint_ms": 300, "cache": {}}}, 422, "invalid_request", "cache"),
        ({"json": {"first_paint_ms": "300", "cache": "hit"}}, 422, "invalid_request", "number"),
        ({"json": {"first_paint_ms": True, "cache": "hit"}}, 422, "invalid_request", "number"),
        ({"json": {"first_paint_ms": 0, "cache": "hit"}}, 422, "invalid_request", "above 0"),
        ({"json": {"first_paint_ms": -5, "cache": "hit"}}, 422, "invalid_request", "above 0"),
        ({"json": {"first_paint_ms": 1e12, "cache": "hit"}}, 422, "invalid_request", "at most"),
        ({"content": b'{"first_paint_ms": NaN, "cache": "hit"}',
          "headers": {"Content-Type": "application/json"}}, 422, "invalid_request", "number"),
        ({"json": {"first_paint_ms": 900, "last_paint_ms": 800, "cache": "miss"}}, 422,
         "invalid_request", "below"),
        ({"content": b"first_paint_ms=3", "headers": {"Content-Type": "text/plain"}}, 415,
         "unsupported_media_type", "application/json"),
        ({"content": b"{oops", "headers": {"Content-Type": "application/json"}}, 400,
         "invalid_json", "JSON"),
        ({"json": ["first_paint_ms"]}, 400, "invalid_json", "object"),
        ({"content": json.dumps({"first_paint_ms": 1, "cache": "hit", "x": "y" * 600}).encode(),
          "headers": {"Content-Type": "application/json"}}, 413, "payload_too_large", "bytes"),
    ],
)
def test_bad_beacons_are_refused_and_not_recorded(
    chat_service: ManagedProcess, kwargs: dict, status: int, code: str, mentions: str
) -> None:
    before = _client_histograms(chat_service.url)
    response = httpx.post(f"{chat_service.url}{BEACON}", timeout=10, **kwargs)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions.lower() in error["message"].lower()
    assert _client_histograms(chat_service.url) == before


def test_with_api_keys_the_page_asks_for_one_and_the_beacon_is_limited(
    simulator: ManagedProcess, start_chat_service: Callable[..., ManagedProcess]
) -> None:
    service = start_chat_service(simulator.url, CHAT_API_KEYS="k-123",
                                 CHAT_CLIENT_TIMINGS_RATE_LIMIT="3/minute")
    page = httpx.get(f"{service.url}/", timeout=10)
    assert page.status_code == 200 and 'data-auth="required"' in page.text
    assert httpx.get(f"{service.url}/ui/app.js", timeout=10).status_code == 200
    chat = httpx.post(f"{service.url}/api/chat/stream", json={"message": "hi"}, timeout=10)
    assert chat.status_code == 401
    # A beacon cannot send a key; it is accepted without one, up to the limit per address.
    beacon = {"first_paint_ms": 250.0, "cache": "miss"}
    statuses = [httpx.post(f"{service.url}{BEACON}", json=beacon, timeout=10).status_code
                for _ in range(4)]
    assert statuses == [204, 204, 204, 429]
    refused = httpx.post(f"{service.url}{BEACON}", json=beacon, timeout=10)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
