"""One flight across instances: identical questions asked at once on any worker or instance
share one upstream call, through Redis.

``SingleFlight`` groups the callers of one worker; here the first caller of each worker meets
the others' in Redis.

- **Lease.** The worker that sets ``<ns>:flight:<digest>`` leads: it calls the upstream, and its
  inbox greenlet renews the lock while the call runs. Every other worker follows. The lock lives
  three quarters of the lease and is renewed when half of that is left; a follower looks at it
  every quarter, so a leader that dies is replaced within the lease
  (``CHAT_SINGLE_FLIGHT_LEASE_SECONDS``).
- **Publishing on demand.** A follower pushes a join to the leader's inbox (one list per worker,
  waited on by one greenlet of that worker with ``BLPOP``) and reads the leader's stream
  ``<ns>:flight:<digest>:<owner>`` with ``XREAD BLOCK``, from its start. The leader writes that
  stream only once someone joined: everything so far, then each item as it arrives. An answer
  nobody follows costs its lease, a renewal every third of it and the release, not a write per
  token; a followed one reaches its followers within a round trip of its leader.
- **A leader that stops.** A follower that reads nothing for a quarter of the lease looks at the
  lock. A leader that died (SIGKILL) stops renewing, so the lock lapses and a follower takes
  over: it sets the lock itself and calls the upstream. What its callers already
  have is kept only if the new answer begins with the same text (a deterministic upstream: the
  simulator, greedy decoding); otherwise their answer ends with a retryable
  ``upstream_interrupted``, as when an upstream fails after its first token.
- **Redis down.** Every call is time-boxed and a failure opens a circuit breaker: the worker then
  answers on its own (per-worker single flight, as without Redis), and a follower that loses
  Redis mid-answer calls the upstream itself and goes on where its callers are.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Literal, cast

from service.cache.breaker import CircuitBreaker
from service.errors import UpstreamFailure
from service.events import Completion, Keepalive, UpstreamItem
from service.flight_items import ABANDONED, Abandoned, Entry, Interrupted, Resume, decode, encode
from service.redis_connect import REDIS_ERRORS, LazyRedis

__all__ = ["FlightRole", "SharedFlights"]

log = logging.getLogger(__name__)

Upstream = Generator[UpstreamItem, None, None]
Source = Callable[[], Upstream]

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_STREAM_TTL_MS = 60_000  # a finished flight's stream outlives every follower's last read
_MAX_CLAIMS = 5  # leaders that come and go before a follower gives up on the answer


@dataclass
class FlightRole:
    """Whether this caller's answer comes from an upstream call it made itself, from the start
    (it then stores the answer and counts its TTFT overhead)."""

    leads: bool


class _Leader:
    """A flight this worker leads: its items so far, and whether anyone follows them."""

    def __init__(self, flights: SharedFlights, lock: str, owner: str) -> None:
        self.lock, self.owner = lock, owner
        self.stream = f"{lock}:{owner}"
        self.followed = False
        self.finished_at: float | None = None
        self.renewed_at = time.monotonic()
        self._flights = flights
        self._items: list[Entry] = []
        self._published = 0
        self._guard = threading.Lock()

    def add(self, item: Entry) -> None:
        # Nobody follows nearly every answer: then this is one append, no lock, no encoding.
        # The flag is read after the append and ``follower_joined`` sets it before it reads the
        # list, so whichever of the two comes second publishes the item.
        self._items.append(item)
        if self.followed:
            self._publish_new()

    def follower_joined(self) -> None:
        self.followed = True
        self._publish_new()

    def _publish_new(self) -> None:
        with self._guard:
            fresh = self._items[self._published:]
            self._published += len(fresh)
            if fresh:
                self._flights.publish(self, [encode(item) for item in fresh])

    def finish(self, abandoned: bool) -> None:
        if abandoned:
            self.add(ABANDONED)
        self.finished_at = time.monotonic()
        self._flights.release(self)


class SharedFlights:
    """The flights of one worker as seen by every other worker and instance sharing Redis."""

    def __init__(self, url: str, namespace: str, lease_seconds: float, ping_interval: float,
                 timeout_seconds: float, breaker_seconds: float) -> None:
        self._prefix = f"{namespace}:flight"
        # The lock lives 3/4 of the lease and is renewed from 3/8 on; a follower looks every
        # 1/4: a dead leader's lock lapses within 3/4, and is seen gone within the whole lease.
        self._lock_ms = max(1, round(lease_seconds * 750))
        self._check = lease_seconds / 4
        self._ping = ping_interval
        self._fast = LazyRedis(url, timeout_seconds)
        # Blocking reads wait up to ``_check``; connecting stays as tightly time-boxed.
        self._blocking = LazyRedis(url, self._check + timeout_seconds + 1.0, timeout_seconds)
        self._worker = uuid.uuid4().hex[:16]
        self._inbox = f"{self._prefix}-inbox:{self._worker}"
        self._owners = itertools.count()
        self._leaders: dict[str, _Leader] = {}
        self._leaders_lock = threading.Lock()
        self._breaker = CircuitBreaker(breaker_seconds)
        self._outage = False
        self._closed = threading.Event()
        self._dispatcher: threading.Thread | None = None

    # --- the one entry point ---------------------------------------------------------------------
    def stream(self, key: str, source: Source, role: FlightRole) -> Upstream:
        """The answer to ``key``: this worker's own upstream call (``source``) if it leads,
        another's as it arrives if it follows; ``role.leads`` says which, once it is known."""
        digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return self._run(f"{self._prefix}:{digest}", source, role)

    def _run(self, lock: str, source: Source, role: FlightRole) -> Upstream:
        resume = Resume()
        for _ in range(_MAX_CLAIMS):
            holder, owner = self._claim(lock)
            if holder is not None:
                ended = yield from self._follow(lock, holder, resume)
                if ended == "done":
                    return
                if ended == "gone":
                    continue  # claim again: take over
                owner = None  # Redis failed: answer alone
            role.leads = not resume.text
            resume.restart()  # this worker's own call: a new generation, from its start
            yield from self._lead(lock, owner, source, resume if resume.text else None)
            return
        raise Interrupted()

    # --- leading ---------------------------------------------------------------------------------
    def _claim(self, lock: str) -> tuple[str | None, str | None]:
        """(holder, None) to follow ``holder``; (None, owner) to lead; (None, None) alone."""
        if not self._breaker.allow():
            return None, None
        owner = f"{self._worker}.{next(self._owners)}"
        try:
            client = self._fast.client()
            for _ in range(3):  # a holder that ends between SET and GET: set again
                if client.set(lock, owner, nx=True, px=self._lock_ms):
                    self._recovered()
                    return None, owner
                holder = cast("str | None", client.get(lock))
                if holder:
                    self._recovered()
                    return holder, None
        except REDIS_ERRORS as exc:
            self._failed(exc)
        return None, None

    def _lead(self, lock: str, owner: str | None, source: Source,
              resume: Resume | None) -> Upstream:
        leader = self._start_leading(lock, owner) if owner is not None else None
        upstream = source()
        finished = handed_over = False
        try:
            for item in upstream:
                if leader is not None and not isinstance(item, Keepalive):
                    leader.add(item)
                if resume is None:
                    yield item
                else:
                    yield from resume.deliver(item)
            finished = True
        except UpstreamFailure as failure:
            if not isinstance(failure, Interrupted):  # the upstream's own failure ends it
                finished = True
                if leader is not None:
                    leader.add(failure)
            raise
        finally:
            if leader is not None and not finished and leader.followed:
                # This worker's callers left (or could not resume); the followers still read.
                handed_over = True
                threading.Thread(target=self._carry_on, args=(leader, upstream),
                                 name="shared-flight", daemon=True).start()
            if not handed_over:
                upstream.close()
                if leader is not None:
                    leader.finish(abandoned=not finished)

    def _carry_on(self, leader: _Leader, upstream: Upstream) -> None:
        """Read the rest of the answer for the followers after this worker's callers left."""
        abandoned = True
        try:
            for item in upstream:
                if not isinstance(item, Keepalive):
                    leader.add(item)
            abandoned = False
        except UpstreamFailure as failure:
            leader.add(failure)
            abandoned = False
        except Exception:
            log.exception("reading a shared flight for its followers failed")
        finally:
            upstream.close()
            leader.finish(abandoned)

    def _start_leading(self, lock: str, owner: str) -> _Leader:
        leader = _Leader(self, lock, owner)
        with self._leaders_lock:
            self._leaders[owner] = leader
            if self._dispatcher is None:
                self._dispatcher = threading.Thread(target=self._dispatch, name="flight-inbox",
                                                    daemon=True)
                self._dispatcher.start()
        return leader

    def publish(self, leader: _Leader, encoded: list[bytes]) -> None:
        """Append to the leader's stream; a failure ends the publishing (followers go on
        their own once the lock is gone)."""
        if not encoded:
            return
        try:
            pipe = self._fast.client().pipeline(transaction=False)
            for item in encoded:
                pipe.xadd(leader.stream, {"i": item})
            pipe.pexpire(leader.stream, _STREAM_TTL_MS)
            pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed(exc)
            leader.followed = False
            self.release(leader)

    def release(self, leader: _Leader) -> None:
        try:
            self._fast.run_script(_RELEASE, [leader.lock], [leader.owner])
        except REDIS_ERRORS as exc:
            self._failed(exc)  # the lease lapses by itself

    # --- the inbox: joins and renewals, one greenlet per worker ----------------------------------
    def _dispatch(self) -> None:
        while not self._closed.is_set():
            try:
                if self._breaker.allow():
                    # decode_responses=True: str, whatever redis-py's types say
                    joined = cast("list[str] | None", self._blocking.client().blpop(
                        [self._inbox], timeout=self._check / 2))
                    if joined:
                        self._joined(joined[1])
                    self._renew()
                else:
                    self._closed.wait(self._breaker.seconds_left() or self._check)
            except REDIS_ERRORS as exc:
                self._failed(exc)
            except Exception:
                log.exception("the flight inbox failed")
                self._closed.wait(self._check)

    def _joined(self, owner: str) -> None:
        leader = self._leaders.get(owner)
        if leader is not None:  # a finished one too: a late follower reads its whole answer
            leader.follower_joined()

    def _renew(self) -> None:
        now = time.monotonic()
        with self._leaders_lock:
            leaders = list(self._leaders.values())
        for leader in leaders:
            if leader.finished_at is not None:
                if now - leader.finished_at > 3 * self._check:
                    with self._leaders_lock:
                        self._leaders.pop(leader.owner, None)
            elif now - leader.renewed_at >= 1.5 * self._check:
                # At 3/8 of the lease, checked every 1/8: renewed by 1/2, a quarter before the
                # lock (3/4) would lapse.
                leader.renewed_at = now
                self._fast.run_script(_RENEW, [leader.lock], [leader.owner, self._lock_ms])

    # --- following -------------------------------------------------------------------------------
    def _follow(self, lock: str, holder: str, resume: Resume
                ) -> Generator[UpstreamItem, None, Literal["done", "gone", "alone"]]:
        """Replay ``holder``'s answer; "gone" when it stopped without finishing."""
        resume.restart()  # another worker's generation, from its start
        try:
            self._join(holder)
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return "alone"
        stream, after = f"{lock}:{holder}", "0"
        quiet_since = time.monotonic()
        while True:
            try:
                entries = self._blocking.read_stream(stream, after, round(self._check * 1000))
                if not entries:
                    current = cast("str | None", self._fast.client().get(lock))
                    if current != holder:
                        # One more look: the leader may have written its end just before leaving.
                        entries = self._blocking.read_stream(stream, after, 1)
            except REDIS_ERRORS as exc:
                self._failed(exc)
                return "alone"
            if not entries:
                if time.monotonic() - quiet_since >= self._ping:
                    quiet_since = time.monotonic()
                    yield Keepalive()
                if current == holder:
                    continue
                if current is None:
                    return "gone"
                holder, stream, after = current, f"{lock}:{current}", "0"  # another took over
                resume.restart()
                try:
                    self._join(holder)
                except REDIS_ERRORS as exc:
                    self._failed(exc)
                    return "alone"
                continue
            quiet_since = time.monotonic()
            for entry_id, fields in entries:
                after = entry_id
                item = decode(fields["i"])
                if isinstance(item, Abandoned):
                    return "gone"
                if isinstance(item, UpstreamFailure):
                    raise item
                yield from resume.deliver(item)
                if isinstance(item, Completion):
                    return "done"

    def _join(self, holder: str) -> None:
        worker = holder.partition(".")[0]
        inbox = f"{self._prefix}-inbox:{worker}"
        pipe = self._fast.client().pipeline(transaction=False)
        pipe.rpush(inbox, holder)
        pipe.pexpire(inbox, _STREAM_TTL_MS)
        pipe.execute()

    # --- outages ---------------------------------------------------------------------------------
    def _failed(self, exc: BaseException) -> None:
        self._breaker.failure(type(exc).__name__)
        if not self._outage:
            self._outage = True
            log.warning("single flight per worker while Redis fails (%s): %s",
                        type(exc).__name__, exc)

    def _recovered(self) -> None:
        self._breaker.success()
        if self._outage:
            self._outage = False
            log.warning("single flight shared across instances again: Redis is back")

    def close(self) -> None:
        """Stop renewing and listening (the inbox's wait ends within an eighth of the lease)."""
        self._closed.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=self._check)
        self._fast.close()
        self._blocking.close()
