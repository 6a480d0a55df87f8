"""The few statistics the overhead benchmark reports, as pure functions over raw samples."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["per_answer_ms", "percentile"]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), interpolated between order statistics; ``None`` if empty.

    The same definition as numpy's default ("linear"), so p50 of an even count is the mean of the
    two middle values and p100 is the maximum.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def per_answer_ms(cpu_seconds: float, answers: int) -> float | None:
    """CPU milliseconds per answer; ``None`` when no answer completed (nothing to divide by)."""
    if answers <= 0:
        return None
    return cpu_seconds * 1000 / answers
