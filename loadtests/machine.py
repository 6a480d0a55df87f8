"""What a run was measured on: the machine, its load, and the code's commit.

Figures compare only within one machine and one state of the code, so every run's summary
(``make load``'s and the overhead benchmark's) records them, with the load average before and
after: other work on a shared machine moves every figure.
"""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

__all__ = ["commit", "machine"]


def commit() -> dict[str, Any] | None:
    """The checkout's commit and whether it had uncommitted changes; ``None`` outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                              timeout=5).stdout.strip()

    try:
        return {"sha": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, Any]:
    """CPUs, their model, platform, Python, and the load average now (``load_average_before``)."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"hostname": platform.node(), "cpus": os.cpu_count(), "cpu_model": model,
            "platform": platform.platform(), "python": platform.python_version(),
            "load_average_before": [round(v, 2) for v in os.getloadavg()]}
