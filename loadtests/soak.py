"""``python -m loadtests soak``: steady load for a long time while watching the service's memory.

A soak is a load run (``loadtests.runner``) with a steady shape, longer defaults (30 minutes,
20 users, a one-minute warm-up) and a sampler of the resident memory of the service's gunicorn
master and workers. Besides the usual verdict, ``summary.json`` gets ``rss_growth_pct`` — the
workers' memory growth after the warm-up — and the ``rss_mb`` series, plotted in
``report.html``; the raw readings are in ``rss.jsonl``. Exit codes as for ``run``.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadtests.runner.cli import execute
from loadtests.runner.config import parse_args

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return execute(parse_args(argv, soak=True))
