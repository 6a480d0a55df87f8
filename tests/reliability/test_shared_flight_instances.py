"""One flight across real service instances sharing a real Redis: one upstream call for a burst
of identical questions, a SIGKILLed leader replaced, and each instance alone without Redis."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from loadtests.fleet import Fleet, fleet_env, start_fleet
from loadtests.flight_bench import ask_at_once
from loadtests.processes import ManagedProcess, free_port, start_simulator
from service.sse import iter_events
from tests.reliability.conftest import sim_stats
from tests.support import stream_chat

LEASE_SECONDS = 2.0


@pytest.fixture(scope="module")
def upstream() -> Iterator[ManagedProcess]:
    """A first token a second away (a burst arrives while the one call is open), then 40
    tokens 60 ms apart (time to kill a leader mid-answer)."""
    proc = start_simulator("fast", extra_args=["--ttft-ms", "1000", "--itl-ms", "60",
                                               "--output-tokens", "40"])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def fleet(upstream: ManagedProcess, redis_server: ManagedProcess) -> Iterator[Fleet]:
    """Two instances sharing the session's Redis, with a two-second lease."""
    with start_fleet(2, _env(upstream, f"redis://127.0.0.1:{redis_server.port}/0")) as two:
        yield two


def _env(simulator: ManagedProcess, redis_url: str) -> dict[str, str]:
    return fleet_env(simulator.url, redis_url, CHAT_CACHE_NAMESPACE=f"f-{uuid.uuid4().hex[:8]}",
                     CHAT_SHUTDOWN_GRACE_SECONDS="1", CHAT_PING_INTERVAL_SECONDS="0.25",
                     CHAT_SINGLE_FLIGHT_LEASE_SECONDS=str(LEASE_SECONDS))


def _text(events: list) -> str:
    return "".join(event.json()["delta"] for event in events if event.event == "token")


def test_fifty_identical_questions_over_two_instances_make_one_upstream_call(
    fleet: Fleet, upstream: ManagedProcess
) -> None:
    figures = ask_at_once(fleet.urls, 50, upstream.url)
    assert figures.upstream_calls == 1
    assert figures.answered == 50 and figures.distinct_answers == 1


def test_a_killed_leader_is_replaced_by_a_follower_within_its_lease(
    fleet: Fleet, upstream: ManagedProcess
) -> None:
    question = {"message": f"Walk me through the onboarding checklist ({uuid.uuid4().hex[:6]})"}
    calls_before = sim_stats(upstream)["requests"]
    try:
        leader_events: list = []
        follower_events: list = []
        token_times: list[float] = []
        leader_started = threading.Event()
        follower_has_text = threading.Event()

        def lead() -> None:
            try:
                with httpx.Client(timeout=30) as client, client.stream(
                        "POST", f"{fleet.urls[0]}/api/chat/stream", json=question) as response:
                    for event in iter_events(response.iter_lines()):
                        leader_events.append(event)
                        if event.event == "token":
                            leader_started.set()
            except httpx.HTTPError:
                pass  # its instance was killed: the cut its client sees

        def follow() -> None:
            with httpx.Client(timeout=30) as client, client.stream(
                    "POST", f"{fleet.urls[1]}/api/chat/stream", json=question) as response:
                for event in iter_events(response.iter_lines()):
                    follower_events.append(event)
                    if event.event == "token":
                        token_times.append(time.monotonic())
                        if len(token_times) >= 3:
                            follower_has_text.set()

        leader = threading.Thread(target=lead)
        leader.start()
        assert leader_started.wait(10)
        follower = threading.Thread(target=follow)
        follower.start()
        assert follower_has_text.wait(10)
        fleet.kill(0)
        killed_at = time.monotonic()
        follower.join(timeout=30)
        leader.join(timeout=30)

        assert not follower.is_alive() and follower_events[-1].event == "done"
        assert leader_events and leader_events[-1].event != "done"  # a cut, not an ending
        gap = max(b - a for a, b in itertools.pairwise(token_times) if b > killed_at)
        assert gap < LEASE_SECONDS + 2.0  # noticed within the lease (and a loaded machine)
        # The replacement answered the same deterministic text: every word once, none missing.
        assert sim_stats(upstream)["requests"] - calls_before == 2
        _, fresh = stream_chat(fleet.urls[1], question)  # nobody stored a partial answer
        assert fresh[0].json()["cache"] == "miss"
        assert _text(follower_events) == _text(fresh)
    finally:
        fleet.restart(0)  # it rejoins on its port, for whatever runs next


def test_without_redis_each_instance_answers_on_its_own(upstream: ManagedProcess) -> None:
    with start_fleet(2, _env(upstream, f"redis://127.0.0.1:{free_port()}/0")) as alone:
        figures = ask_at_once(alone.urls, 10, upstream.url)
    assert figures.answered == 10 and figures.distinct_answers == 1
    assert figures.upstream_calls == 2  # one per instance (per worker), as before
