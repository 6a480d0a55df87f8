"""One flight across workers and instances, in one process: each ``SharedFlights`` here is one
worker of its own, all on the session's real Redis; the upstream is a scripted generator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from loadtests.processes import ManagedProcess, free_port
from service.errors import UpstreamFailure
from service.events import Completion, Keepalive, TokenDelta, UpstreamItem
from service.flight_items import Interrupted
from service.shared_flight import FlightRole, SharedFlights

WORDS = tuple(f"word{i} " for i in range(12))
LEASE = 2.0  # short enough for quick takeovers, long enough for a loaded CI machine


class Upstream:
    """A scripted upstream: counts its calls; each answer's pace and text are settable."""

    def __init__(self, words: tuple[str, ...] = WORDS, gap: float = 0.02,
                 first_token: float = 0.2) -> None:
        self.words, self.gap, self.first_token = words, gap, first_token
        self.calls = 0
        self.stall_after: int | None = None  # the next call hangs there (a leader that died)
        self.unstall = threading.Event()
        self.fail_with: UpstreamFailure | None = None
        self.closed = threading.Event()

    def __call__(self) -> Iterator[UpstreamItem]:
        self.calls += 1
        return self._answer(self.words, self.stall_after)

    def _answer(self, words: tuple[str, ...], stall_after: int | None) -> Iterator[UpstreamItem]:
        try:
            time.sleep(self.first_token)
            for index, word in enumerate(words):
                while index == stall_after and not self.unstall.wait(0.05):
                    yield Keepalive()
                if self.fail_with is not None and index == 3:
                    raise self.fail_with
                yield TokenDelta((word,))
                time.sleep(self.gap)
            yield Completion("stop", "gpt-4o-mini", 5, len(words), None)
        finally:
            self.closed.set()


def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def _text(items: list[UpstreamItem]) -> str:
    return "".join(t for item in items if isinstance(item, TokenDelta) for t in item.texts)


@pytest.fixture
def workers(request: pytest.FixtureRequest) -> Iterator[Callable[..., SharedFlights]]:
    """Make "workers" (one ``SharedFlights`` each) on one fresh namespace of the session's
    Redis, or of its Redis Cluster when parametrised with "cluster"."""
    made: list[SharedFlights] = []
    namespace = f"sf-{uuid.uuid4().hex[:8]}"
    if getattr(request, "param", "redis") == "cluster":
        url = request.getfixturevalue("redis_cluster").url
    else:
        url = f"redis://127.0.0.1:{request.getfixturevalue('redis_server').port}/0"

    def make() -> SharedFlights:
        flights = SharedFlights(url, namespace, LEASE, ping_interval=0.1, timeout_seconds=0.5,
                                breaker_seconds=0.5)
        made.append(flights)
        return flights

    yield make
    for flights in made:
        flights.close()


def _ask(flights: SharedFlights, upstream: Upstream, key: str = "q") -> tuple[list, FlightRole]:
    role = FlightRole(leads=False)
    return list(flights.stream(key, upstream, role)), role


@pytest.mark.parametrize("workers", ["redis", "cluster"], indirect=True)
def test_workers_asking_at_once_share_one_upstream_call(workers) -> None:
    upstream = Upstream()
    flights = [workers() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda f: _ask(f, upstream), flights))
    assert upstream.calls == 1
    assert {_text(items) for items, _ in results} == {"".join(WORDS)}
    assert all(isinstance(items[-1], Completion) for items, _ in results)
    assert sorted(role.leads for _, role in results) == [False, False, False, True]


def test_an_answer_nobody_follows_writes_no_stream(workers, redis_server: ManagedProcess) -> None:
    lone = workers()
    items, role = _ask(lone, Upstream())
    assert role.leads and _text(items) == "".join(WORDS)
    client = redis.Redis("127.0.0.1", redis_server.port)
    # no stream of tokens: the lock is released, nothing else is left
    assert list(client.scan_iter(match=f"{lone._prefix}*")) == []


@pytest.mark.parametrize("workers", ["redis", "cluster"], indirect=True)
def test_a_late_follower_replays_the_answer_from_its_start(workers) -> None:
    # The leader's answer waits after four tokens until the follower has them all: the follower
    # joined late, and the rest of the answer is still to come.
    upstream = Upstream()
    upstream.stall_after = 4
    leader, follower = workers(), workers()
    followed: list[UpstreamItem] = []
    role = FlightRole(leads=False)
    with ThreadPoolExecutor(2) as pool:
        led = pool.submit(_ask, leader, upstream)
        _until(lambda: upstream.calls == 1)
        upstream.stall_after = None
        following = pool.submit(lambda: followed.extend(follower.stream("q", upstream, role)))
        try:
            _until(lambda: len(_text(followed)) >= len("".join(WORDS[:4])))
        finally:
            upstream.unstall.set()
        following.result(timeout=10)
    assert upstream.calls == 1 and not role.leads
    assert _text(followed) == _text(led.result()[0]) == "".join(WORDS)


def _follow_until_the_leader_hangs(workers, upstream: Upstream) -> tuple[list, FlightRole]:
    """A leader hangs after four tokens and stops renewing (as a killed process would) while
    its follower, which has those four, waits; the follower's own answer is returned."""
    upstream.stall_after = 4
    leader, follower = workers(), workers()
    items: list[UpstreamItem] = []
    role = FlightRole(leads=False)
    with ThreadPoolExecutor(2) as pool:
        pool.submit(_ask, leader, upstream)
        _until(lambda: upstream.calls == 1)  # it leads: its call has begun
        upstream.stall_after = None  # calls after the leader's answer in full
        followed = pool.submit(lambda: items.extend(follower.stream("q", upstream, role)))
        _until(lambda: len(_text(items)) >= len("".join(WORDS[:4])))
        leader.close()  # no more renewals: its lock lapses
        try:
            followed.result(timeout=LEASE + 3)
        finally:
            upstream.unstall.set()
    return items, role


@pytest.mark.parametrize("workers", ["redis", "cluster"], indirect=True)
def test_a_leader_that_stops_is_replaced_within_its_lease(workers) -> None:
    upstream = Upstream()
    items, role = _follow_until_the_leader_hangs(workers, upstream)
    assert upstream.calls == 2 and not role.leads  # it had text already: it does not store
    # the same deterministic answer: the follower's caller got every word exactly once
    assert _text(items) == "".join(WORDS) and isinstance(items[-1], Completion)


def test_a_replacement_that_answers_differently_interrupts(workers) -> None:
    upstream = Upstream()

    def sampled(words: tuple[str, ...], stall_after: int | None) -> Iterator[UpstreamItem]:
        if upstream.calls > 1:  # the replacement's call: a different answer
            words = tuple(f"other{i} " for i in range(12))
        return Upstream._answer(upstream, words, stall_after)

    upstream._answer = sampled  # type: ignore[method-assign]
    with pytest.raises(UpstreamFailure) as raised:
        _follow_until_the_leader_hangs(workers, upstream)
    assert isinstance(raised.value, Interrupted) and raised.value.retryable


def test_the_upstream_failure_reaches_every_follower(workers) -> None:
    upstream = Upstream()
    upstream.fail_with = UpstreamFailure("upstream_unavailable", "503 from upstream", True)
    flights = [workers() for _ in range(3)]

    def ask(f: SharedFlights) -> str:
        try:
            _ask(f, upstream)
        except UpstreamFailure as failure:
            return failure.code
        return "answered"

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(ask, flights)) == ["upstream_unavailable"] * 3
    assert upstream.calls == 1


def test_followers_keep_the_answer_when_the_leaders_caller_leaves(workers) -> None:
    upstream = Upstream(gap=0.03)
    leader, follower = workers(), workers()
    role = FlightRole(leads=False)
    led = leader.stream("q", upstream, role)
    assert isinstance(next(led), TokenDelta) and role.leads
    with ThreadPoolExecutor(1) as pool:
        followed = pool.submit(_ask, follower, upstream)
        time.sleep(0.2)
        led.close()  # the leader's only caller hung up; its follower still reads
        items, _ = followed.result(timeout=10)
    assert upstream.calls == 1 and _text(items) == "".join(WORDS)


def test_an_abandoned_flight_is_taken_over_from_the_start(workers) -> None:
    upstream = Upstream()
    leader, follower = workers(), workers()
    led = leader.stream("q", upstream, FlightRole(leads=False))
    next(led)
    led.close()  # nobody followed yet: the call is closed at once
    assert upstream.closed.wait(2)
    items, role = _ask(follower, upstream)
    assert role.leads and _text(items) == "".join(WORDS) and upstream.calls == 2


def test_without_redis_each_worker_answers_alone() -> None:
    upstream = Upstream(first_token=0.05)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    flights = [SharedFlights(dead, "down", LEASE, 0.1, 0.2, 5.0) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda f: _ask(f, upstream), flights))
    assert upstream.calls == 2
    assert all(role.leads and _text(items) == "".join(WORDS) for items, role in results)
    for f in flights:
        f.close()


def test_a_follower_that_loses_redis_answers_on_its_own() -> None:
    from loadtests.processes import start_redis

    own = start_redis()
    url = f"redis://127.0.0.1:{own.port}/0"
    upstream = Upstream(gap=0.05)
    leader, follower = (SharedFlights(url, "lost", LEASE, 0.1, 0.2, 5.0) for _ in range(2))
    items: list[UpstreamItem] = []
    role = FlightRole(leads=False)
    try:
        with ThreadPoolExecutor(2) as pool:
            pool.submit(_ask, leader, upstream)
            _until(lambda: upstream.calls == 1)
            followed = pool.submit(lambda: items.extend(follower.stream("q", upstream, role)))
            _until(lambda: len(_text(items)) >= len("".join(WORDS[:3])))
            own.stop()
            followed.result(timeout=10)
    finally:
        own.stop()
        leader.close()
        follower.close()
    # it called the upstream itself and went on where its caller was: every word once
    assert upstream.calls == 2 and _text(items) == "".join(WORDS)
