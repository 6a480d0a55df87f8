"""Load shapes selectable by name (``--load-shape``): steady, ramp, spike and fixed arrival rate.

Locust uses the first ``LoadTestShape`` it finds in the locustfile, so there is one shape class,
``NamedShape``, that reads the common options (``--users``, ``--spawn-rate``, ``--run-time``) and
the chosen name, and asks a small stage table what to run at each moment. ``arrival`` is the open
model: Locust stays closed-loop underneath, but every user is paced with ``constant_throughput``
so that the pool together starts ``--arrival-rate`` requests a second whatever the latency, as
long as the pool is large enough (users >= rate * slowest request time; the report shows the rate
achieved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import LoadTestShape, between, constant_throughput

__all__ = ["DEFAULT_SHAPE", "SHAPES", "NamedShape", "stage_at", "wait_time_for"]

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


def wait_time_for(options: Any) -> Callable[[Any], float]:
    """The users' wait time: think time, or the pacing that holds a fixed arrival rate."""
    if options.load_shape == "arrival":
        per_user = options.arrival_rate / max(1, options.num_users)
        return constant_throughput(per_user)
    low, _, high = options.think_time.partition(",")
    return between(float(low), float(high or low))


class NamedShape(LoadTestShape):
    """The shape named by ``--load-shape``, sized by ``--users``/``--spawn-rate``/``--run-time``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options
        run_time = float(options.run_time or 60)
        return stage_at(options.load_shape, self.get_run_time(), run_time,
                        int(options.num_users or 1), float(options.spawn_rate or 1))
