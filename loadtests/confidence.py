"""Percentiles, and the 95 % confidence bounds that decide whether a run was big enough to judge.

``percentile`` is the one percentile formula of the harness (linear interpolation between closest
ranks, numpy's default): the load summary, its breakdown tables and the overhead benchmark all
use it. Every gated figure carries two bounds, each a **one-sided 95 % confidence bound**: the
true value is below the upper bound, and above the lower one, with 95 % confidence each. A
target **passes** only when the bound on its unfavourable side meets it, **fails** only when the
bound on its favourable side misses it, and is **inconclusive** in between: too few samples to
tell, either way. A bound that the samples cannot give (the 95th percentile's upper bound needs
at least 59 values) is ``None``, so a p95 over a handful of answers can never pass.

Proportions use the Wilson score bound, means Student's t, quantiles the distribution-free
bounds between two order statistics (exact binomial).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["CONFIDENCE", "mean_interval", "percentile", "proportion_interval",
           "quantile_interval"]

CONFIDENCE = 0.95  # of each one-sided bound
_Z = 1.6448536  # one-sided 95 %


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values``, linearly interpolated; ``None`` when empty."""
    if not 0 <= q <= 1:
        raise ValueError(f"a quantile is within 0-1, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def proportion_interval(successes: float, trials: float) -> tuple[float, float] | None:
    """Wilson score bounds of ``successes / trials``."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + _Z**2 / trials
    centre = (p + _Z**2 / (2 * trials)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / trials + _Z**2 / (4 * trials**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _t_quantile(df: int) -> float:
    """Student's t at one-sided 95 % (Cornish-Fisher expansion; within 0.2 % from 3 degrees)."""
    z = _Z
    return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Student's t bounds of the mean; ``None`` under two values."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    half = _t_quantile(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean - half, mean + half


def _binomial_cdf(n: int, q: float) -> list[float]:
    """P(Binomial(n, q) <= k) for k = 0..n, summed in log space (n up to hundreds of thousands)."""
    log_q, log_p = math.log(q), math.log1p(-q)
    total, cdf = 0.0, []
    for k in range(n + 1):
        total += math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                          + k * log_q + (n - k) * log_p)
        cdf.append(min(1.0, total))
    return cdf


def quantile_interval(values: Sequence[float],
                      q: float) -> tuple[float | None, float | None] | None:
    """Order statistics bounding the ``q`` quantile; an end the sample cannot give is ``None``.

    The k-th smallest value lies above the quantile with probability P(Binomial(n, q) < k), so
    the upper bound is the smallest k where that reaches 95 % (none when even the largest value
    does not: too few values), and the lower bound the largest k where P(Binomial(n, q) >= k)
    still does.
    """
    n = len(values)
    if n < 2:
        return None
    ordered, cdf = sorted(values), _binomial_cdf(n, q)
    upper = next((ordered[k - 1] for k in range(1, n + 1) if cdf[k - 1] >= CONFIDENCE), None)
    lower = next((ordered[k - 1] for k in range(n, 0, -1) if 1 - cdf[k - 1] >= CONFIDENCE),
                 None)
    return lower, upper
