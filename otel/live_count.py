"""Counts (requests served, streams in flight) kept in a dict and reported when collected.

A synchronous ``Counter`` or ``UpDownCounter`` hands every ``add`` to the metrics SDK: the
attributes are cleaned and hashed, the measurement is offered to an exemplar reservoir and then
aggregated, 14-24 µs a call on this machine. A cache hit made six such calls (+1 and -1 on
``http.server.active_requests`` and ``chat.active_streams``, one ``chat.cache.lookups``, one
``chat.requests``; docs/performance.md). What a scrape or an export reads is only the current
total per attribute set, so ``LiveCount`` keeps that total itself (1-4 µs an ``add``) and
reports it through an observable instrument of the same name, unit and description: a counter
stays a monotonic sum and an up-down count a non-monotonic one, in OTLP and in Prometheus alike,
and every attribute set seen so far is still reported (an idle one at 0), as the synchronous
instruments did. Exemplars are not kept: the service documents them on its TTFT and duration
histograms only (docs/telemetry.md), and a trace sampled at one +1 says nothing about a count.

``keys`` keeps only the attributes a view would keep (``http.server.*`` keeps the method, not
the client's ``Host``), before anything is stored. Attribute sets are also bounded like the SDK's
cardinality limit: past ``limit`` distinct sets, further ones are counted under
``otel.metric.overflow=true``, so no client can grow the dict.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

__all__ = ["OVERFLOW_ATTRIBUTES", "LiveCount"]

log = logging.getLogger(__name__)

OVERFLOW_ATTRIBUTES: Mapping[str, Any] = {"otel.metric.overflow": True}
_OVERFLOW_KEY = frozenset(OVERFLOW_ATTRIBUTES.items())
_DEFAULT_LIMIT = 2000  # the OpenTelemetry SDKs' default cardinality limit


class LiveCount:
    """A total per attribute set, reported as an observable counter (``monotonic``) or an
    observable up-down counter; ``add`` is the synchronous instruments' call."""

    def __init__(self, meter: Meter, name: str, unit: str, description: str, *,
                 monotonic: bool = False, keys: Collection[str] | None = None,
                 limit: int = _DEFAULT_LIMIT) -> None:
        self.name = name
        self._monotonic = monotonic
        self._keys = keys
        self._limit = limit
        self._counts: dict[frozenset[tuple[str, Any]], list[Any]] = {}
        self._lock = threading.Lock()
        create = (meter.create_observable_counter if monotonic
                  else meter.create_observable_up_down_counter)
        create(name, callbacks=[self._observe], unit=unit, description=description)

    def add(self, amount: int, attributes: Mapping[str, Any] | None = None) -> None:
        """Change the total of ``attributes`` by ``amount``; a counter refuses a negative one,
        as the SDK's does."""
        if self._monotonic and amount < 0:
            log.warning("Add amount must be non-negative on Counter %s.", self.name)
            return
        attributes = attributes or {}
        if self._keys is not None:
            attributes = {k: v for k, v in attributes.items() if k in self._keys}
        key = frozenset(attributes.items())
        with self._lock:
            entry = self._counts.get(key)
            if entry is None:
                if len(self._counts) >= self._limit:
                    key, attributes = _OVERFLOW_KEY, OVERFLOW_ATTRIBUTES
                    entry = self._counts.get(key)
                if entry is None:
                    entry = self._counts[key] = [dict(attributes), 0]
            entry[1] += amount

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            current = [(attributes, total) for attributes, total in self._counts.values()]
        return [Observation(total, attributes) for attributes, total in current]
