"""Starting the browser sessions of a load run as their own process, stopped with the run.

The sessions run in a child process (``python -m loadtests.browser drive``) rather than in the
runner: Playwright brings its own event loop and a node driver, and a process of its own is
stopped, logs and all, exactly like the simulator and the service.
"""

from __future__ import annotations

import importlib.util
import sys
from contextlib import ExitStack
from pathlib import Path

from loadtests.browser.chromium import ChromiumMissing, chromium_path
from loadtests.processes import ManagedProcess, ProcessFailed

__all__ = ["SAMPLES_FILE", "start_browser_sessions"]

SAMPLES_FILE = "browser.jsonl"


def start_browser_sessions(host: str, sessions: int, seconds: float, run_dir: Path,
                           log_dir: Path, seed: int, think_time: str, stack: ExitStack,
                           processes: list[ManagedProcess]) -> ManagedProcess:
    """``sessions`` headless browsers chatting through ``host``'s page for ``seconds``.

    Each answer becomes a line of ``run_dir/browser.jsonl``; the process is stopped when
    ``stack`` unwinds, if it has not ended by itself.
    """
    try:
        chromium_path()
    except ChromiumMissing as exc:
        raise ProcessFailed(f"--browsers needs chromium: {exc}") from None
    if importlib.util.find_spec("playwright") is None:
        raise ProcessFailed("--browsers needs Playwright: pip install -e '.[dev]' (make setup)")
    argv = [sys.executable, "-m", "loadtests.browser", "drive", "--host", host,
            "--sessions", str(sessions), "--duration", str(seconds),
            "--out", str(run_dir / SAMPLES_FILE), "--seed", str(seed),
            "--think-time", think_time]
    proc = ManagedProcess("browsers", argv, 0, log_path=log_dir / "browsers.log").start()
    processes.append(proc)
    stack.callback(proc.stop)
    return proc
