"""The latency model: when each token of one simulated answer is due.

Kept free of I/O so that its statistics can be tested directly over thousands of draws, without
waiting for wall-clock time. The server only asks it for a ``Schedule`` and sleeps until each
offset; every offset is measured from the moment the request arrived.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .profiles import TIER_SPEED, Profile

__all__ = ["Schedule", "lognormal", "plan"]

# Real token streams arrive unevenly (batching, network); each gap varies around the request's
# pace by this much either way. The spread averages out over an answer, so totals keep the mean.
_GAP_JITTER = 0.5


@dataclass(frozen=True)
class Schedule:
    """Offsets (seconds after arrival) at which each content token is due."""

    ttft_s: float
    offsets_s: tuple[float, ...]

    @property
    def tokens(self) -> int:
        return len(self.offsets_s)

    @property
    def total_s(self) -> float:
        """Time from arrival to the last token: the full response time the model scheduled."""
        return self.offsets_s[-1] if self.offsets_s else self.ttft_s

    def truncated(self, tokens: int) -> Schedule:
        """The same schedule cut to its first ``tokens`` tokens (``max_tokens``)."""
        return Schedule(self.ttft_s, self.offsets_s[:tokens])


def lognormal(rng: random.Random, mean: float, std: float) -> float:
    """A positive draw with the given mean and standard deviation (0 when ``mean`` is 0)."""
    if mean <= 0:
        return 0.0
    if std <= 0:
        return mean
    sigma2 = math.log1p((std / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


def plan(
    profile: Profile,
    tier: str,
    rng: random.Random,
    *,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    output_tokens: int | None = None,
) -> Schedule:
    """Draw one answer's schedule; ``ttft_ms``/``itl_ms``/``output_tokens`` pin those values."""
    speed = 1.0 if profile.fixed else TIER_SPEED[tier]
    jitter = 0.0 if profile.fixed else _GAP_JITTER
    # Draw everything even when pinned, so that pinning one value leaves the others unchanged.
    ttft_draw = lognormal(rng, profile.ttft_ms_mean * speed, profile.ttft_ms_std * speed)
    pace = lognormal(rng, profile.itl_ms_mean * speed, profile.itl_ms_std * speed) / 1000
    length = rng.randint(profile.output_tokens_min, profile.output_tokens_max)
    ttft_s = (ttft_draw if ttft_ms is None else ttft_ms) / 1000
    if itl_ms is not None:
        pace = itl_ms / 1000
    tokens = length if output_tokens is None else output_tokens
    offsets = [ttft_s]
    for _ in range(tokens - 1):
        offsets.append(offsets[-1] + pace * rng.uniform(1 - jitter, 1 + jitter))
    return Schedule(ttft_s, tuple(offsets[:tokens]))
