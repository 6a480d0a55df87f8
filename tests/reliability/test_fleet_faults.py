"""Faults of a fleet: real NGINX (the deployed config) in front of two real instances sharing a
real Redis, under steady streaming load from real clients.

- One instance SIGKILLed mid-run (its machine gone): the streams it was writing end in a cut the
  client sees (the chunked body is left unterminated, no ``done`` event); every request started
  after the kill is answered whole by the other; NGINX takes the dead one out (passive health,
  ``max_fails``) and tries it no more until ``fail_timeout``; restarted on its port, it serves
  again; every answer cached before the kill is still a hit (the cache is Redis's).
- A rolling restart (SIGTERM one instance, wait until NGINX sends it requests again, then the
  next) under steady load: not one request fails at the client.

One fleet and one NGINX for the module, rendered with a 2 s ``fail_timeout`` (10 s deployed) so
that rejoining takes seconds. Streams last about a second (40 tokens 25 ms apart).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from loadtests.fleet import Fleet, fleet_env, start_fleet
from loadtests.nginx import nginx_binary, start_nginx
from loadtests.processes import ManagedProcess, start_simulator
from service.settings import Settings
from service.sse import iter_events
from tests.support import require_binary

pytestmark = pytest.mark.timeout(240)

FAIL_TIMEOUT_SECONDS = 2.0
CLIENTS = 6
CACHED = [f"What does error code E{n} mean in the billing export?" for n in range(6)]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ManagedProcess]:
    proc = start_simulator("fast", extra_args=["--ttft-ms", "100", "--itl-ms", "25",
                                               "--output-tokens", "40"])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def fleet(upstream: ManagedProcess, redis_server: ManagedProcess) -> Iterator[Fleet]:
    env = fleet_env(upstream.url, f"redis://127.0.0.1:{redis_server.port}/0",
                    CHAT_CACHE_NAMESPACE=f"faults-{uuid.uuid4().hex[:8]}",
                    CHAT_SHUTDOWN_GRACE_SECONDS="15", CHAT_PROXY_HOPS="1")
    with start_fleet(2, env) as two:
        yield two


@pytest.fixture(scope="module")
def proxy(fleet: Fleet) -> Iterator[ManagedProcess]:
    nginx_binary() or require_binary("nginx", "nginx")
    backends = [url.removeprefix("http://") for url in fleet.urls]
    proc = start_nginx(backends, Settings.from_env(fleet.env),
                       fail_timeout_seconds=FAIL_TIMEOUT_SECONDS)
    yield proc
    proc.stop()


@dataclass
class Outcome:
    """One streamed request as its client saw it."""

    started: float
    ended: float
    status: int | None = None
    done: bool = False  # the `done` event arrived: the answer is whole
    cache: str | None = None
    cut: str | None = None  # how the transport ended early, as the client library said it


def stream(url: str, message: str) -> Outcome:
    outcome = Outcome(time.monotonic(), 0.0)
    try:
        with httpx.Client(timeout=30) as client, client.stream(
                "POST", f"{url}/api/chat/stream", json={"message": message}) as response:
            outcome.status = response.status_code
            for event in iter_events(response.iter_lines()):
                if event.event == "meta":
                    outcome.cache = event.json().get("cache")
                outcome.done = outcome.done or event.event == "done"
    except httpx.TransportError as exc:
        outcome.cut = f"{type(exc).__name__}: {exc}"
    outcome.ended = time.monotonic()
    return outcome


class SteadyLoad:
    """``CLIENTS`` threads streaming back to back through ``url`` until stopped; every other
    question new (an upstream call), the rest from a small set (cache hits)."""

    def __init__(self, url: str) -> None:
        self.url, self.outcomes = url, list[Outcome]()
        self._stop = threading.Event()
        self._counter = itertools.count()
        self._threads = [threading.Thread(target=self._client, daemon=True)
                         for _ in range(CLIENTS)]

    def _client(self) -> None:
        while not self._stop.is_set():
            n = next(self._counter)
            message = (CACHED[n % len(CACHED)] if n % 2
                       else f"How do I rotate key {n}-{uuid.uuid4().hex[:6]}?")
            self.outcomes.append(stream(self.url, message))

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _served(url: str) -> int:
    return int(httpx.get(f"{url}/api/openai/stats", timeout=5).json()["requests"])


def _wait_until_served(fleet: Fleet, index: int, proxy: ManagedProcess,
                       timeout_s: float = FAIL_TIMEOUT_SECONDS + 20) -> None:
    """Until NGINX has sent instance ``index`` a request again (its counter moves)."""
    before = _served(fleet.urls[index])
    deadline = time.monotonic() + timeout_s
    while _served(fleet.urls[index]) == before:
        assert time.monotonic() < deadline, f"instance {index} got no request back from NGINX"
        stream(proxy.url, f"Is instance {index} back {uuid.uuid4().hex[:6]}?")


def test_a_killed_instance_cuts_its_streams_visibly_and_loses_the_fleet_nothing(
        fleet: Fleet, proxy: ManagedProcess) -> None:
    logged = len(proxy.log_path.read_text()) if proxy.log_path else 0
    cached = [stream(proxy.url, question) for question in CACHED]
    assert all(o.done for o in cached)
    dead = fleet.urls[1].removeprefix("http://")
    with SteadyLoad(proxy.url) as load:
        time.sleep(1.5)  # streams open on both instances
        killed_at = time.monotonic()
        fleet.kill(1)
        time.sleep(FAIL_TIMEOUT_SECONDS - 0.5)  # all of it within one fail_timeout
    log = proxy.log_path.read_text()[logged:] if proxy.log_path else ""
    broken = [o for o in load.outcomes if not o.done]
    # The streams the dead instance was writing: cut, and the client knows (no clean end).
    assert broken, "no stream was open on the killed instance"
    assert all(o.started < killed_at and o.cut and "incomplete chunked read" in o.cut
               for o in broken), broken
    # Everything started after the kill was answered whole, by the other instance.
    after = [o for o in load.outcomes if o.started > killed_at]
    assert len(after) >= CLIENTS and all(o.done and o.status == 200 for o in after)
    # Passive health: out after max_fails failed tries, and not tried again within fail_timeout.
    assert "upstream server temporarily disabled while connecting to upstream" in log
    refused = len(re.findall(rf"connect\(\) failed \(111: Connection refused\).*{dead}", log))
    assert 1 <= refused <= 2 + CLIENTS, log[-2000:]  # max_fails, and the tries already begun
    fleet.restart(1)
    _wait_until_served(fleet, 1, proxy)
    # Nothing the fleet cached was lost with the instance: Redis holds it.
    again = [stream(proxy.url, question) for question in CACHED]
    assert [(o.done, o.cache) for o in again] == [(True, "hit")] * len(CACHED)


def test_a_rolling_restart_under_load_drops_no_request(fleet: Fleet,
                                                       proxy: ManagedProcess) -> None:
    with SteadyLoad(proxy.url) as load:
        time.sleep(1.5)
        for index in range(len(fleet.instances)):
            old = fleet.instances[index]
            assert old.stop(grace_seconds=20) is not None  # SIGTERM: drains its streams
            fleet.restart(index)
            _wait_until_served(fleet, index, proxy)
        time.sleep(1.0)
    failed = [o for o in load.outcomes if not (o.done and o.status == 200)]
    assert len(load.outcomes) >= 4 * CLIENTS
    assert failed == [], failed
