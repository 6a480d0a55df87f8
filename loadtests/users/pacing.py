"""How load is paced in Locust: the named shape it runs, and each user's wait between requests.

Locust uses the first ``LoadTestShape`` it finds in the locustfile, so there is one shape class,
``NamedShape``, that reads the common options (``--users``, ``--spawn-rate``, ``--run-time``) and
``--load-shape``, and asks ``loadtests.shapes.stage_at`` what to run at each moment. ``arrival``
is the open model: Locust stays closed-loop underneath, but every user is paced with
``constant_throughput`` so the pool together starts ``--arrival-rate`` requests a second whatever
the latency, as long as the pool is large enough (users >= rate * slowest request time; the
report's throughput shows the rate achieved).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from locust import LoadTestShape, between, constant_throughput

from loadtests.shapes import stage_at

__all__ = ["NamedShape", "wait_time_for"]


def wait_time_for(options: Any) -> Callable[[Any], float]:
    """The users' wait time: think time, or the pacing that holds a fixed arrival rate."""
    if options.load_shape == "arrival":
        return constant_throughput(options.arrival_rate / max(1, options.num_users))
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
