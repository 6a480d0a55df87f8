"""Single flight: identical questions asked at the same time share one upstream call.

The first caller for a key leads: it reads the upstream stream itself, in its own request, and
records every item in the ``Flight`` so that a caller who joins later replays the whole answer
from the start, as a stream. The flight belongs to no single client: when the leader leaves
while others still listen, a background thread (a greenlet under gevent) takes over reading;
the upstream call is closed only when every subscriber has gone, noticed within one keep-alive
interval. Flights group the callers of one worker; with ``SharedFlights`` (Redis) a worker's
leader meets the other workers' and instances' leaders, and only one of them calls the
upstream (``service.shared_flight``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator

from opentelemetry import context as otel_context

from service.errors import UpstreamFailure
from service.events import Keepalive, UpstreamItem
from service.shared_flight import FlightRole, SharedFlights

__all__ = ["Flight", "FlightRole", "SingleFlight"]

Upstream = Generator[UpstreamItem, None, None]
Source = Callable[[], Upstream]


class Flight:
    """One upstream answer being read, shared by its subscribers."""

    def __init__(self) -> None:
        self.items: list[UpstreamItem] = []
        self._failure: UpstreamFailure | None = None
        self.finished = False
        self.subscribers = 1  # the leader
        self.leader_reading = True  # the leader reads the upstream itself, waiting on nothing
        self._changed = threading.Condition()

    def publish(self, item: UpstreamItem) -> None:
        self.items.append(item)
        if self.subscribers > self.leader_reading:  # someone waits in ``read``
            with self._changed:
                self._changed.notify_all()

    def finish(self, failure: UpstreamFailure | None = None) -> None:
        with self._changed:
            self._failure = failure
            self.finished = True
            self._changed.notify_all()

    def join(self) -> None:
        with self._changed:
            self.subscribers += 1

    def leave(self) -> int:
        with self._changed:
            self.subscribers -= 1
            return self.subscribers

    def read(self, ping_interval: float) -> Iterator[UpstreamItem]:
        """Every item from the start; ``Keepalive`` after ``ping_interval`` without one.

        Raises the flight's ``UpstreamFailure``. Closing the iterator unsubscribes; the last
        subscriber to leave waits (about one keep-alive interval) until the upstream call is
        closed, so a request never ends while its upstream call still runs.
        """
        index = 0
        try:
            while True:
                with self._changed:
                    if index >= len(self.items) and not self.finished:
                        self._changed.wait(ping_interval)
                    fresh = self.items[index:]
                    finished = self.finished
                index += len(fresh)
                if not fresh and not finished:
                    yield Keepalive()
                yield from fresh
                if finished and index >= len(self.items):
                    if self._failure is not None:
                        raise self._failure
                    return
        finally:
            if self.leave() == 0:
                self.wait_finished(2 * ping_interval + 1)

    def wait_finished(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.finished, timeout)


class SingleFlight:
    """The flights of one worker, by key; shared with other workers through ``shared``."""

    def __init__(self, ping_interval: float, shared: SharedFlights | None = None) -> None:
        self._ping_interval = ping_interval
        self._shared = shared
        self._flights: dict[str, Flight] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._flights)

    def stream(self, key: str, source: Source) -> tuple[Iterator[UpstreamItem], FlightRole]:
        """The items of ``key``'s flight, starting it with ``source`` if there is none.

        Returns the items and this caller's role: whether its answer comes from an upstream
        call it made (it then stores the answer), known once the items have been read.
        """
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                flight.join()
                return flight.read(self._ping_interval), FlightRole(leads=False)
            flight = self._flights[key] = Flight()
        role = FlightRole(leads=self._shared is None)
        stream = (self._shared.stream(key, source, role) if self._shared is not None
                  else source())
        return self._lead(key, flight, stream), role

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()

    def _lead(self, key: str, flight: Flight, stream: Upstream) -> Iterator[UpstreamItem]:
        try:
            for item in stream:
                if not isinstance(item, Keepalive):
                    flight.publish(item)
                yield item
        except UpstreamFailure as failure:
            self._end(key, flight, failure)
            raise
        except GeneratorExit:
            # The leader's client left. The call reads on in the background until the next item
            # shows whether anyone still listens (a caller may join in that moment); with nobody
            # left, the leader waits — about one item or keep-alive — for it to be closed.
            flight.leader_reading = False
            left = flight.leave()
            threading.Thread(
                target=self._carry_on, args=(key, flight, stream, otel_context.get_current()),
                name="single-flight", daemon=True,
            ).start()
            if left == 0:
                flight.wait_finished(2 * self._ping_interval + 1)
            raise
        else:
            self._end(key, flight, None)
            flight.leave()

    def _carry_on(self, key: str, flight: Flight, stream: Upstream,
                  parent: otel_context.Context) -> None:
        """Read on for the followers after the leader left, until they too have gone."""
        token = otel_context.attach(parent)  # upstream spans belong to the request that began it
        failure: UpstreamFailure | None = None
        try:
            for item in stream:
                if flight.subscribers == 0:
                    break  # everybody left: stop the upstream generating
                if not isinstance(item, Keepalive):
                    flight.publish(item)
        except UpstreamFailure as exc:
            failure = exc
        finally:
            stream.close()
            self._end(key, flight, failure)
            otel_context.detach(token)

    def _end(self, key: str, flight: Flight, failure: UpstreamFailure | None) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        flight.finish(failure)
