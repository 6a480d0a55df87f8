"""Single flight: identical questions asked at the same time share one upstream call.

The first caller for a key starts a ``Flight``: the upstream stream is read by a background
thread (a greenlet under gevent) into a list every subscriber replays from the start, so a
caller who joins late still gets the whole answer, as a stream. The flight belongs to no single
client: the upstream call is closed only when every subscriber has gone, noticed within one
keep-alive interval. Flights are per worker process; across workers the cache takes over once
the first answer is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry import context as otel_context

from service.errors import UpstreamFailure
from service.llm.client import Keepalive

__all__ = ["Flight", "SingleFlight"]


class Flight:
    """One upstream answer being read, shared by its subscribers."""

    def __init__(self, on_end: Callable[[], None]) -> None:
        self._items: list[Any] = []
        self._failure: UpstreamFailure | None = None
        self._finished = False
        self._subscribers = 0
        self._changed = threading.Condition()
        self._on_end = on_end

    def run(self, source: Callable[[], Iterator[Any]], parent: otel_context.Context) -> None:
        """Read ``source`` to its end (or until nobody listens); called in a background thread."""
        token = otel_context.attach(parent)  # upstream spans belong to the request that started it
        stream = source()
        try:
            for item in stream:
                with self._changed:
                    if self._subscribers == 0:
                        break  # everybody left: stop the upstream generating
                    if not isinstance(item, Keepalive):
                        self._items.append(item)
                        self._changed.notify_all()
        except UpstreamFailure as failure:
            self._failure = failure
        finally:
            stream.close()
            with self._changed:
                self._finished = True
                self._changed.notify_all()
            self._on_end()
            otel_context.detach(token)

    def subscribe(self) -> None:
        with self._changed:
            self._subscribers += 1

    def read(self, ping_interval: float) -> Iterator[Any]:
        """Every item from the start; ``Keepalive`` after ``ping_interval`` without one.

        Raises the flight's ``UpstreamFailure``. Closing the iterator unsubscribes; the last
        subscriber to leave waits (about one keep-alive interval) until the upstream call is
        closed, so a request never ends while its upstream call still runs.
        """
        index = 0
        try:
            while True:
                with self._changed:
                    if index >= len(self._items) and not self._finished:
                        self._changed.wait(ping_interval)
                    fresh = self._items[index:]
                    finished = self._finished
                index += len(fresh)
                if not fresh and not finished:
                    yield Keepalive()
                yield from fresh
                if finished and index >= len(self._items):
                    if self._failure is not None:
                        raise self._failure
                    return
        finally:
            with self._changed:
                self._subscribers -= 1
                if self._subscribers == 0:
                    self._changed.wait_for(lambda: self._finished, 2 * ping_interval + 1)


class SingleFlight:
    """The flights of one worker, by key."""

    def __init__(self, ping_interval: float) -> None:
        self._ping_interval = ping_interval
        self._flights: dict[str, Flight] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._flights)

    def stream(
        self, key: str, source: Callable[[], Iterator[Any]]
    ) -> tuple[Iterator[Any], bool]:
        """The items of ``key``'s flight, starting it with ``source`` if there is none.

        Returns the items and whether this caller started the flight (it then stores the answer).
        """
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = Flight(on_end=lambda: self._end(key))
                self._flights[key] = flight
            flight.subscribe()
        if leader:
            threading.Thread(target=flight.run, args=(source, otel_context.get_current()),
                             name="single-flight", daemon=True).start()
        return flight.read(self._ping_interval), leader

    def _end(self, key: str) -> None:
        with self._lock:
            self._flights.pop(key, None)
