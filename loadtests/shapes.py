"""Load shapes selectable by name: steady, ramp, spike and fixed arrival rate.

The stage table and ``stage_at`` are plain Python, free of Locust, so the runner (which must not
import Locust: importing it monkey-patches the process for gevent) can offer the names, and tests
can check the stages without a running Locust. ``loadtests.users.pacing`` turns them into the
Locust shape class and the users' wait times.
"""

from __future__ import annotations

__all__ = ["DEFAULT_SHAPE", "SHAPES", "stage_at"]

DEFAULT_SHAPE = "steady"
SHAPES = ("steady", "ramp", "spike", "arrival")

# (share of the run where the stage ends, share of --users, spawn rate multiplier)
_STAGES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "steady": ((1.0, 1.0, 1.0),),
    "arrival": ((1.0, 1.0, 1.0),),
    # Five steps up to the full count, holding the last fifth of the run at the top.
    "ramp": ((0.16, 0.2, 1.0), (0.32, 0.4, 1.0), (0.48, 0.6, 1.0), (0.64, 0.8, 1.0),
             (1.0, 1.0, 1.0)),
    # A third of the users, a sudden surge to all of them (spawned 10x faster), then back.
    "spike": ((0.4, 1 / 3, 1.0), (0.6, 1.0, 10.0), (1.0, 1 / 3, 10.0)),
}


def stage_at(name: str, elapsed_s: float, run_time_s: float, users: int,
             spawn_rate: float) -> tuple[int, float] | None:
    """(users, spawn rate) for ``elapsed_s`` into the run, or ``None`` once it is over."""
    if elapsed_s >= run_time_s:
        return None
    share = elapsed_s / run_time_s
    for end, user_share, rate_factor in _STAGES[name]:
        if share < end:
            return max(1, round(users * user_share)), spawn_rate * rate_factor
    return None
