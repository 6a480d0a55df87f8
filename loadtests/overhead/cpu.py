"""CPU time of a process tree, read with psutil: what a server spent on the answers of a round.

The benchmark's CPU figures are the difference of two readings around a round, divided by the
answers in it. gunicorn's master forks its workers, so a reading sums the whole tree; the time of
children that already exited and were reaped is in their parent's ``children_user`` /
``children_system`` times, so a worker restarting mid-round does not lose its CPU.
"""

from __future__ import annotations

import psutil

__all__ = ["process_cpu_seconds", "tree_cpu_seconds"]


def process_cpu_seconds(process: psutil.Process) -> float:
    """User plus system time of ``process`` and of its reaped children."""
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (0 if ``root`` is gone)."""
    try:
        top = psutil.Process(root)
        tree = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in tree:
        try:
            total += process_cpu_seconds(process)
        except psutil.NoSuchProcess:  # exited between listing and reading: its parent reaps it
            continue
    return total
