"""Fault kinds the simulator can inject, how they are written down, and which request gets one.

Faults come from three places, in rising priority: the profile's rates, ``--fault KIND[:RATE]``
on the command line, and the ``X-Sim-Fault`` header of one request (``none`` suppresses all).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "FAULT_KINDS",
    "NO_FAULT",
    "STATUS_FAULTS",
    "FaultPicker",
    "StatusFault",
    "merge_rates",
    "parse_fault",
]

FAULT_KINDS: tuple[str, ...] = (
    "status-429",
    "status-503",
    "status-500",
    "stall-first-token",
    "stall-mid-stream",
    "cut-mid-stream",
    "error-chunk",
    "cut-after-done",
)
NO_FAULT = "none"


@dataclass(frozen=True)
class StatusFault:
    """A fault answered at once with an HTTP error status and an OpenAI error body."""

    status: int
    type: str
    code: str
    message: str
    retry_after_seconds: int | None = None


STATUS_FAULTS: Mapping[str, StatusFault] = {
    "status-429": StatusFault(
        429, "rate_limit_exceeded", "rate_limit_exceeded",
        "Rate limit reached (simulated). Please try again in 1s.", retry_after_seconds=1,
    ),
    "status-503": StatusFault(
        503, "server_error", "service_unavailable",
        "The server is overloaded or not ready yet (simulated).",
    ),
    "status-500": StatusFault(
        500, "server_error", "internal_error",
        "The server had an error while processing your request (simulated).",
    ),
}


def parse_fault(spec: str) -> tuple[str, float]:
    """``"KIND"`` or ``"KIND:RATE"`` → ``(kind, rate)``; rate defaults to 1."""
    kind, _, rate_text = spec.partition(":")
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
    try:
        rate = float(rate_text) if rate_text else 1.0
    except ValueError:
        raise ValueError(f"fault rate {rate_text!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate {rate} is not between 0 and 1")
    return kind, rate


def merge_rates(*sources: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Later sources override earlier ones kind by kind; zero rates are dropped."""
    rates: dict[str, float] = {}
    for source in sources:
        rates.update(source)
    return {kind: rate for kind, rate in rates.items() if rate > 0}


class FaultPicker:
    """Decides each request's fault.

    Draws come from one generator seeded once and consumed in arrival order, not from the
    request's content: a retried request must be able to succeed where the first attempt failed,
    while a sequential run with the same seed still repeats exactly.
    """

    def __init__(self, rates: Mapping[str, float], seed: int) -> None:
        self._rates = [(kind, rates[kind]) for kind in FAULT_KINDS if kind in rates]
        self._rng = random.Random(seed)

    def pick(self, forced: str | None = None) -> str | None:
        """The fault for the next request; ``forced`` (a kind or ``"none"``) wins."""
        if forced is not None:
            return None if forced == NO_FAULT else forced
        for kind, rate in self._rates:
            if self._rng.random() < rate:
                return kind
        return None
