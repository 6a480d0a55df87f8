"""Sample the resident memory (RSS) of the service's gunicorn master and workers during a run.

A soak is a load run plus this sampler. It only records raw readings — the time, each process's
RSS in bytes, and the worker pids (so a restarted worker shows) — one JSON line each in
``rss.jsonl`` as it goes, so even a soak cut short leaves its memory curve behind. The growth
figures are derived from these readings in ``loadtests.summary`` like every other figure.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psutil

__all__ = ["RssSampler", "read_rss"]


def read_rss(master_pid: int) -> dict[str, Any] | None:
    """One reading of the master and its direct children (the workers); ``None`` once it is gone."""
    try:
        master = psutil.Process(master_pid)
        workers: dict[str, int] = {}
        for child in master.children():
            try:
                workers[str(child.pid)] = child.memory_info().rss
            except psutil.NoSuchProcess:  # a worker exiting between listing and reading
                continue
        return {"epoch_s": time.time(), "master_bytes": master.memory_info().rss,
                "workers_bytes": workers}
    except psutil.NoSuchProcess:
        return None


class RssSampler:
    """A background thread reading ``read_rss`` every ``interval_s`` until ``stop``."""

    def __init__(self, master_pid: int, interval_s: float, path: Path) -> None:
        self.master_pid = master_pid
        self.interval_s = interval_s
        self.path = path
        self.readings: list[dict[str, Any]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        """Stop sampling (after one last reading) and return every reading taken."""
        self._stopped.set()
        self._thread.join(timeout=self.interval_s + 5)
        return list(self.readings)

    def _sample(self, out: Any) -> None:
        reading = read_rss(self.master_pid)
        if reading is not None:
            self.readings.append(reading)
            out.write(json.dumps(reading) + "\n")
            out.flush()

    def _loop(self) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            next_at = time.monotonic()
            while not self._stopped.is_set():
                self._sample(out)
                next_at += self.interval_s
                self._stopped.wait(max(0.0, next_at - time.monotonic()))
            self._sample(out)
