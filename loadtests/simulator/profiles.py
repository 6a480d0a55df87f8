"""Named latency profiles of the simulated upstream, and the rule that puts a model in a tier.

One table so docs/simulator.md, the CLI's ``--help`` and the tests read the same numbers.
``seed`` is calibrated to the original system (TTFT well under 1 s; full responses about
4.7-9.7 s with a mean near 6.2 s); the others exist for tests, gate failures and overhead
measurements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "DEFAULT_MODELS",
    "PROFILES",
    "TIER_SPEED",
    "Profile",
    "model_tier",
]

# Listed by /v1/models; any other name is accepted too and placed by ``model_tier``.
DEFAULT_MODELS: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o")

_FAST_MARKERS = ("mini", "fast", "small", "haiku", "8b")

# A fast model is quicker on both TTFT and per-token pace; the factors straddle 1 so that an even
# mix of tiers keeps a profile's stated means.
TIER_SPEED: Mapping[str, float] = MappingProxyType({"fast": 0.92, "smart": 1.08})


def model_tier(model: str) -> str:
    """``"fast"`` for small-model names (mini, fast, small, haiku, 8b), else ``"smart"``."""
    name = model.lower()
    return "fast" if any(marker in name for marker in _FAST_MARKERS) else "smart"


@dataclass(frozen=True)
class Profile:
    """Latency, length and fault rates of one simulated upstream.

    TTFT and the per-request token pace are lognormal with the given mean and standard deviation
    (milliseconds); the output length is uniform in ``[output_tokens_min, output_tokens_max]``;
    ``faults`` maps a fault kind to the share of requests that get it. ``fixed`` profiles play
    exactly their means for every request of every tier — no spread, no tier speed, no jitter
    between tokens — so a benchmark can tell a proxy's added milliseconds from the model's.
    """

    name: str
    description: str
    ttft_ms_mean: float
    ttft_ms_std: float
    itl_ms_mean: float
    itl_ms_std: float
    output_tokens_min: int
    output_tokens_max: int
    faults: Mapping[str, float] = field(default_factory=dict)
    fixed: bool = False


PROFILES: Mapping[str, Profile] = MappingProxyType({
    p.name: p
    for p in (
        # name, description, TTFT mean/std (ms), token pace mean/std (ms), output tokens min/max
        Profile("seed", "calibrated to the original system", 350, 130, 30, 2.5, 175, 215),
        Profile("fast", "for tests: tens of ms TTFT, well under 0.5 s in all", 30, 10, 1.5, 0.3,
                30, 90),
        Profile("slow", "TTFT around 2 s, so a gate run fails", 2000, 300, 30, 6, 80, 200),
        Profile("instant", "no delays at all, to measure service overhead", 0, 0, 0, 0, 60, 160),
        Profile("fixed", "constant 50 ms TTFT, 20 ms a token, 64 tokens: the overhead benchmark",
                50, 0, 20, 0, 64, 64, fixed=True),
        Profile("idle", "constant 50 ms TTFT, then one token every 2 s, 4 tokens: open, idle "
                "streams", 50, 0, 2000, 0, 4, 4, fixed=True),
    )
})
