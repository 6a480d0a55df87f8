"""The ``make load`` runner: start what is missing, drive Locust, judge, write the run folder.

``python -m loadtests run`` parses its options into a ``RunConfig`` (``config.py``) and calls
``run_load`` (``run.py``), which tests call too. ``stack.py`` starts the simulator, redis-server
and the service; ``locust_process.py`` runs Locust headless (optionally master + workers) with
a live progress line; ``service_stats.py`` reads the service's own counters before and after.
"""

from __future__ import annotations

from loadtests.runner.config import RunConfig, parse_args
from loadtests.runner.run import HarnessError, RunResult, run_load

__all__ = ["HarnessError", "RunConfig", "RunResult", "parse_args", "run_load"]
