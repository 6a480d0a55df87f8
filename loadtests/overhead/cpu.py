"""CPU time of a process tree, read from ``/proc``: what a server spent on the answers of a round.

The benchmark's CPU figures are the difference of two readings around a round, divided by the
answers in it. gunicorn's master forks its workers, so a reading sums the whole tree; the time of
children that already exited and were reaped is in their parent's ``cutime``/``cstime``, so a
worker restarting mid-round does not lose its CPU. Linux only, like the rest of the harness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLOCK_TICKS", "ProcStat", "children", "parse_stat", "read_stat", "tree_cpu_seconds"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the benchmark reads (times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int  # of reaped children
    cstime: int

    @property
    def cpu_seconds(self) -> float:
        """User plus system time of the process and of its reaped children."""
        return (self.utime + self.stime + self.cutime + self.cstime) / CLOCK_TICKS


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line (the command name may hold spaces and parentheses)."""
    head, _, tail = text.rpartition(")")
    if not head:
        raise ValueError(f"not a /proc stat line: {text[:80]!r}")
    pid = int(head.split("(", 1)[0])
    # Fields after the name, numbered as in proc(5) from 3 (state): ppid is 4, utime 14 ... 17.
    fields = tail.split()
    return ProcStat(pid=pid, ppid=int(fields[1]), utime=int(fields[11]), stime=int(fields[12]),
                    cutime=int(fields[13]), cstime=int(fields[14]))


def read_stat(pid: int) -> ProcStat | None:
    """The process's current stat, ``None`` once it is gone."""
    try:
        return parse_stat((_PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``children`` list, else a scan of ``/proc``)."""
    tasks = _PROC / str(pid) / "task"
    try:
        found = {int(child) for task in tasks.iterdir()
                 for child in (task / "children").read_text().split()}
        return sorted(found)
    except FileNotFoundError:  # gone, or a kernel without CONFIG_PROC_CHILDREN
        pass
    found = set()
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) and stat.ppid == pid:
            found.add(stat.pid)
    return sorted(found)


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (0 if ``root`` is gone)."""
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        stat = read_stat(pid)
        if stat is None:
            continue
        total += stat.cpu_seconds
        pending.extend(children(pid))
    return total
