"""95 % confidence intervals for the gated figures, so a small run is not judged on noise.

A target is **failed** only when the whole interval misses it; when the measured value misses
but the interval still reaches the threshold, the run was too small to tell and the target is
**inconclusive** (run longer). Proportions use the Wilson score interval, the mean a normal
interval, the 95th percentile the distribution-free interval between two order statistics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["mean_interval", "proportion_interval", "quantile_interval"]

_Z = 1.959964  # two-sided 95 %


def proportion_interval(successes: float, trials: float) -> tuple[float, float] | None:
    """Wilson score interval of ``successes / trials``."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + _Z**2 / trials
    centre = (p + _Z**2 / (2 * trials)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / trials + _Z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Normal interval of the mean (the runs' means are over dozens of answers or more)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = _Z * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


def quantile_interval(values: Sequence[float], q: float) -> tuple[float, float] | None:
    """Order statistics bracketing the ``q`` quantile (normal approximation to the binomial)."""
    n = len(values)
    if n < 2:
        return None
    ordered = sorted(values)
    spread = _Z * math.sqrt(n * q * (1 - q))
    low = max(0, math.floor(n * q - spread) - 1)
    high = min(n - 1, math.ceil(n * q + spread) - 1)
    return ordered[low], ordered[high]
