"""Run Locust headless as child processes — one local runner, or a master and N workers.

Locust is the engine; this module only builds its command line (chatperf's own options
included), watches the progress file the master writes, prints a live progress line, and
bounds the wait. Workers here run on this machine; to spread them over machines, start more
with ``python -m locust -f loadtests/locustfile.py --worker --master-host <this host>``
(see docs/load.md).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from loadtests.processes import LOOPBACK, ManagedProcess, free_port
from loadtests.runner.config import RunConfig

__all__ = ["LocustFailed", "LocustFiles", "progress_line", "run_locust"]

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"
_GRACE_S = 60  # beyond run time and stop timeout, before a hung Locust counts as a failure


class LocustFailed(RuntimeError):
    """Raised when Locust exits with an error of its own or does not finish in time."""


class LocustFiles:
    """Where Locust writes inside the run folder."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.csv_prefix = run_dir / "locust"
        self.html = run_dir / "locust.html"
        # Written once, at exit, from the final totals (with the CSVs: loadtests.hooks).
        self.stats_json = run_dir / "locust_stats.json"
        self.samples = run_dir / "samples.jsonl"
        self.warmup = run_dir / "warmup.json"  # the warm-up's end and the service's counters
        self.warmup_samples = run_dir / "warmup.jsonl"
        self.phases = run_dir / "phases.json"  # when the load started and stopped
        self.progress = run_dir / "progress.json"
        self.abort_thresholds = run_dir / "abort-thresholds.json"  # k6's abortOnFail ones
        self.logs = run_dir / "logs"


def _chatperf_options(config: RunConfig) -> list[str]:
    return ["-f", str(LOCUSTFILE), "--mix", config.mix, "--load-shape", config.shape,
            "--arrival-rate", str(config.arrival_rate), "--think-time", config.think_time,
            "--workload-seed", str(config.workload_seed), "--warmup-seconds", str(config.warmup_s),
            "--loglevel", "WARNING"]


def _master_argv(config: RunConfig, host: str, files: LocustFiles, port: int,
                 stats_hosts: Sequence[str] = ()) -> list[str]:
    argv = [sys.executable, "-m", "locust", *_chatperf_options(config), "--headless",
            "--host", host, "--users", str(config.users), "--spawn-rate", str(config.spawn_rate),
            "--run-time", f"{config.warmup_s + config.duration_s}s",
            "--stop-timeout", str(config.stop_timeout_s),
            "--csv", str(files.csv_prefix), "--csv-full-history", "--html", str(files.html),
            "--samples-file", str(files.samples),
            "--warmup-file", str(files.warmup), "--warmup-samples-file", str(files.warmup_samples),
            "--progress-file", str(files.progress), "--phases-file", str(files.phases)]
    if config.client_metrics_port:
        argv += ["--client-metrics-port", str(config.client_metrics_port)]
    if stats_hosts:  # behind a proxy: the warm-up's end reads each instance's counters
        argv += ["--service-stats-from", ",".join(stats_hosts)]
    if files.abort_thresholds.exists():
        argv += ["--abort-thresholds-file", str(files.abort_thresholds)]
    if config.workers:
        argv += ["--master", "--master-bind-host", LOOPBACK, "--master-bind-port", str(port),
                 "--expect-workers", str(config.workers), "--expect-workers-max-wait", "30"]
    return argv


def progress_line(files: LocustFiles, config: RunConfig) -> str:
    """E.g. ``[  31s/20s+60s] measure · users 30 · requests 52 · …``: figures of this phase.

    The clock is the load's own, from the progress file: seconds since Locust started the test,
    not since its process started (its imports take seconds).
    """
    total = f"{config.warmup_s}s+{config.duration_s}s" if config.warmup_s else (
        f"{config.duration_s}s")
    try:
        p = json.loads(files.progress.read_text())
    except (OSError, ValueError):
        return f"[   -s/{total}] starting Locust…"
    clock = f"[{p['elapsed_s']:4.0f}s/{total}]" if p.get("elapsed_s") is not None else (
        f"[   -s/{total}]")
    p95 = f"{p['ttft_p95_s']:.3f} s" if p["ttft_p95_s"] is not None else "-"
    hit = f"{p['hit_rate'] * 100:.1f} %" if p["hit_rate"] is not None else "-"
    phase = "warm-up (not counted)" if p["phase"] == "warm-up" else "measure"
    return (f"{clock} {phase} · users {p['users']:>4} · requests {p['requests']:>6} · "
            f"errors {p['errors']:>4} · TTFT p95 {p95} · hit rate {hit}")


def run_locust(config: RunConfig, host: str, files: LocustFiles, stack: ExitStack,
               processes: list[ManagedProcess], out: TextIO = sys.stderr,
               stats_hosts: Sequence[str] = ()) -> int:
    """Run Locust to the end; returns its exit code (1 means some requests failed).

    The Locust processes are appended to ``processes`` and stopped by ``stack``.
    ``stats_hosts``: the instances behind ``host`` (a proxy), whose counters are read.
    """
    files.logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    master = ManagedProcess("locust", _master_argv(config, host, files, port, stats_hosts), port,
                            log_path=files.logs / "locust.log").start()
    processes.append(master)
    stack.callback(master.stop)
    for i in range(config.workers):
        worker = ManagedProcess(
            f"locust-worker-{i}",
            [sys.executable, "-m", "locust", *_chatperf_options(config), "--worker",
             "--master-host", LOOPBACK, "--master-port", str(port)],
            0, log_path=files.logs / f"locust-worker-{i}.log").start()
        processes.append(worker)
        stack.callback(worker.stop)
    started = time.monotonic()
    deadline = started + config.warmup_s + config.duration_s + config.stop_timeout_s + _GRACE_S
    tty, last_print = out.isatty(), 0.0
    while master.alive() and time.monotonic() < deadline:
        elapsed = time.monotonic() - started
        if tty:
            out.write("\r" + progress_line(files, config).ljust(110))
            out.flush()
        elif elapsed - last_print >= 10:
            out.write(progress_line(files, config) + "\n")
            last_print = elapsed
        time.sleep(0.5 if tty else 1.0)
    if tty:
        out.write("\n")
    if master.alive():
        master.stop()
        raise LocustFailed(f"Locust did not finish within {deadline - started:.0f}s; "
                           f"see {files.logs / 'locust.log'}")
    code = master.popen.returncode if master.popen else -1
    if code not in (0, 1):
        raise LocustFailed(f"Locust exited with {code}:\n{master.log_tail()}")
    return code
