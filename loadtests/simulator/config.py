"""The simulator's one settings object, built by the CLI or directly by tests."""

from __future__ import annotations

from dataclasses import dataclass

from .faults import merge_rates
from .profiles import PROFILES, Profile

__all__ = ["DEFAULT_STALL_SECONDS", "SimulatorConfig"]

# A stalled stream must end some time even if its client never gives up.
DEFAULT_STALL_SECONDS = 600.0


@dataclass(frozen=True)
class SimulatorConfig:
    """Where to listen, which profile to play, and which faults to add to it."""

    host: str = "127.0.0.1"
    port: int = 8001
    profile_name: str = "seed"
    seed: int = 0
    faults: tuple[tuple[str, float], ...] = ()
    stall_seconds: float = DEFAULT_STALL_SECONDS
    log_level: str = "INFO"
    # Pins every answer's TTFT (no spread), so a client's measured TTFT can be checked against it.
    ttft_ms: int | None = None
    # Pin the token pace and the answer length too (the overhead benchmark's fixed upstream).
    itl_ms: float | None = None
    output_tokens: int | None = None
    # Every answer repeats the question verbatim, so a test can choose what a client must render.
    echo: bool = False

    def __post_init__(self) -> None:
        if self.profile_name not in PROFILES:
            raise ValueError(
                f"unknown profile {self.profile_name!r}; choose from {', '.join(PROFILES)}"
            )

    @property
    def profile(self) -> Profile:
        return PROFILES[self.profile_name]

    @property
    def fault_rates(self) -> dict[str, float]:
        """The profile's fault rates with the command line's on top."""
        return merge_rates(self.profile.faults.items(), self.faults)
