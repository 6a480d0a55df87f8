"""One load run from start to verdict: the function behind ``python -m loadtests run``.

Order matters: the run folder first (so a failure still leaves its logs), then the stack, the
service's counters before, Locust (which reads them again at the end of the warm-up, the start
of what is counted), the counters after, and only then the summary — derived in
``loadtests.summary`` — and the writers, which read nothing but that summary. A soak adds a
memory sampler (``rss.py``) over the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from loadtests.baseline import compare_baseline, load_baseline, settings_differ
from loadtests.browser.chromium import ChromiumMissing, chromium_path
from loadtests.browser.process import SAMPLES_FILE, start_browser_sessions
from loadtests.machine import commit, machine
from loadtests.processes import ManagedProcess, ProcessFailed
from loadtests.report import render_html, verdict_table
from loadtests.runner.config import RunConfig
from loadtests.runner.locust_process import LocustFailed, LocustFiles, run_locust
from loadtests.runner.rss import RssSampler, read_rss
from loadtests.runner.service_stats import fleet_snapshot, wait_ready
from loadtests.runner.stack import Stack, start_scraper, start_stack
from loadtests.summary import build_summary, figure_names_of_a_summary
from loadtests.thresholds import check_names, parse_cli
from loadtests.verdict import aborted_checks, load_targets, load_thresholds, overall_verdict

__all__ = ["HarnessError", "RunResult", "run_load"]


class HarnessError(RuntimeError):
    """Raised when the run could not be made or judged (not when the service missed a target)."""


@dataclass(frozen=True)
class RunResult:
    """What a finished run left: its folder, its summary and the processes it started."""

    run_dir: Path
    summary: dict[str, Any]
    pids: tuple[int, ...]  # every process the run started, for callers that check cleanup

    @property
    def verdict(self) -> str:
        return str(self.summary["verdict"])


def _read_warmup(files: LocustFiles) -> dict[str, Any]:
    """When measuring started and the service's counters then, as Locust noted them."""
    try:
        return dict(json.loads(files.warmup.read_text()))
    except (OSError, ValueError) as exc:
        raise HarnessError(f"the warm-up did not end properly ({exc}); see {files.logs}") from exc


def _phases(files: LocustFiles) -> dict[str, Any]:
    """When Locust started the load and when it stopped it (its run time over, or a threshold
    with abortOnFail crossed: ``aborted``), as it noted."""
    try:
        return dict(json.loads(files.phases.read_text()))
    except (OSError, ValueError, AttributeError):
        return {}


def _start_sampler(config: RunConfig, service_pid: int | None, files: LocustFiles,
                   stack: ExitStack) -> RssSampler | None:
    if config.rss_interval_s is None:
        return None
    if service_pid is None:
        raise HarnessError("memory sampling needs a service started by this run, not --host")
    sampler = RssSampler(service_pid, config.rss_interval_s, files.run_dir / "rss.jsonl").start()
    stack.callback(sampler.stop)
    return sampler


def _read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _locust_entries(path: Path) -> dict[str, int]:
    """Locust's final request count per entry (``"POST /api/chat/stream"``…)."""
    if not path.exists():
        return {}
    return {f"{entry['method']} {entry['name']}": int(entry["num_requests"])
            for entry in json.loads(path.read_text())}


def _annotate(config: RunConfig, summary: dict[str, Any], out: TextIO) -> None:
    if not config.grafana_url:
        return
    from dashboards.grafana import annotate_run  # only needed when Grafana is set

    run = summary["run"]
    text = (f"chatperf load run {run['id']}: {summary['verdict']} · TTFT p95 "
            f"{summary['ttft_p95_s']} s · hit rate {summary['cache_hit_rate']}")
    try:
        annotate_run(config.grafana_url, config.grafana_token or "", run["started_epoch_s"],
                     run["finished_epoch_s"], summary["verdict"], text)
    except Exception as exc:  # an annotation must never fail the run
        out.write(f"grafana annotation failed: {exc}\n")


def _keep_logs(processes: list[ManagedProcess], logs: Path) -> None:
    """Copy the logs of the processes started outside the run folder into it (several
    instances of one name: ``service.log``, ``service-2.log``…)."""
    seen: dict[str, int] = {}
    for proc in processes:
        if proc.log_path and proc.log_path.exists() and proc.log_path.parent != logs:
            seen[proc.name] = seen.get(proc.name, 0) + 1
            suffix = f"-{seen[proc.name]}" if seen[proc.name] > 1 else ""
            shutil.copy(proc.log_path, logs / f"{proc.name}{suffix}.log")


def _with_memory(after: dict[str, Any] | None, stack_info: Stack) -> dict[str, Any] | None:
    """Each instance's resident memory (gunicorn master and workers) beside its counters."""
    for url, pid in zip(stack_info.instances, stack_info.instance_pids, strict=True):
        reading = read_rss(pid)
        instance = ((after or {}).get("instances") or {}).get(url.removeprefix("http://"))
        if reading and instance is not None:
            instance["rss_bytes"] = reading["master_bytes"] + sum(
                reading["workers_bytes"].values())
    return after


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_load(config: RunConfig, out: TextIO = sys.stderr) -> RunResult:
    """Run the load, write the run folder, print the verdict; raise ``HarnessError`` if stuck."""
    targets = load_targets(config.targets)
    thresholds = [*load_thresholds(config.targets),
                  *parse_cli(config.thresholds, config.abort_on_fail)]
    check_names(thresholds, figure_names_of_a_summary())  # a typo fails now, not after the run
    baseline = load_baseline(config.baseline) if config.baseline else None
    if config.browsers:
        try:  # before anything starts, not after the stack is up
            chromium_path()
        except ChromiumMissing as exc:
            raise HarnessError(f"--browsers needs a browser: {exc}") from None
    box = machine()
    run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = config.out / run_id
    suffix = 1
    while run_dir.exists():
        run_dir, suffix = config.out / f"{run_id}-{suffix}", suffix + 1
    files = LocustFiles(run_dir)
    files.logs.mkdir(parents=True)
    aborting = [asdict(t) for t in thresholds if t.abort_on_fail]
    if aborting:
        files.abort_thresholds.write_text(json.dumps(aborting))
    # SIGTERM (CI cancelling the job) must unwind like Ctrl-C so every child is stopped.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm) if in_main else None
    processes: list[ManagedProcess] = []
    try:
        with ExitStack() as stack:
            try:
                stack_info = start_stack(config, stack, processes, f"chatperf-run-{run_dir.name}")
                out.write(f"chatperf load: {stack_info.describe()}\n")
                if config.prometheus:
                    scraper = start_scraper(stack_info, run_dir / "prometheus", stack, processes,
                                            config.client_metrics_port)
                    out.write(f"prometheus: {scraper.url} (scraping each instance; data in "
                              f"{run_dir / 'prometheus'})\n")
                for host in stack_info.stats_hosts:
                    wait_ready(host)
                at_start = fleet_snapshot(stack_info.stats_hosts)
                warmup = (f"after a {config.warmup_s}s warm-up (not counted)" if config.warmup_s
                          else "from a cold start (no warm-up)")
                out.write(f"running {config.users} users ({config.shape}, mix {config.mix}) for "
                          f"{config.duration_s}s {warmup} → {run_dir}\n")
                if config.client_metrics_port:
                    out.write(f"client TTFT for Prometheus: http://127.0.0.1:"
                              f"{config.client_metrics_port}/metrics\n")
                sampler = _start_sampler(config, stack_info.service_pid, files, stack)
                if config.browsers:
                    start_browser_sessions(stack_info.host, config.browsers,
                                           config.warmup_s + config.duration_s, run_dir,
                                           files.logs, config.workload_seed, config.think_time,
                                           stack, processes)
                locust_started = time.time()
                run_locust(config, stack_info.host, files, stack, processes, out,
                           stats_hosts=stack_info.instances)
                finished = time.time()
                after = _with_memory(fleet_snapshot(stack_info.stats_hosts), stack_info)
                rss_readings = sampler.stop() if sampler else None
            except (ProcessFailed, LocustFailed) as exc:
                raise HarnessError(str(exc)) from exc
            finally:
                _keep_logs(processes, files.logs)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    pids = tuple(p.pid for p in processes)
    samples = _read_samples(files.samples)
    if not samples:
        raise HarnessError(f"no requests finished; see {files.logs}")
    phases = _phases(files)
    # Load began when Locust's test started, not when its process did (imports take seconds).
    load_started = phases.get("started_epoch_s", locust_started)
    if config.warmup_s:
        warmup_end = _read_warmup(files)
        started, before = warmup_end["ended_epoch_s"], warmup_end["service"]
    else:
        started, before = load_started, at_start
    run_meta = {
        "id": run_dir.name, "started_epoch_s": started, "finished_epoch_s": finished,
        "measured_until_epoch_s": phases.get("stopped_epoch_s"),
        "aborted": phases.get("aborted"),
        "warmup_s": config.warmup_s,
        "warmup_started_epoch_s": load_started if config.warmup_s else None,
        "rss_interval_s": config.rss_interval_s,
        "duration_s": config.duration_s, "users": config.users, "spawn_rate": config.spawn_rate,
        "shape": config.shape, "mix": config.mix, "think_time": config.think_time,
        "profile": None if (config.host or config.upstream_url) else config.profile,
        "host": stack_info.host, "upstream": stack_info.upstream,
        "upstream_kind": stack_info.upstream_kind,
        "cache_backend": stack_info.cache_backend,
        "cache_backend_kind": stack_info.cache_backend_kind,
        "cache_namespace": stack_info.cache_namespace,
        "locust_workers": config.workers,
        # Which pack answered, as the service says (it may have been started elsewhere).
        "cache_pack": ((after or {}).get("cache") or {}).get("pack", {}).get("name"),
        "service_workers": None if config.host else config.service_workers,
        "instances": len(stack_info.instances) or 1,
        "targets_file": str(config.targets), "browsers": config.browsers,
        "options": {k: str(v) for k, v in asdict(config).items() if "token" not in k},
        "machine": {**box, "load_average_after": [round(v, 2) for v in os.getloadavg()]},
        "commit": commit(),
    }
    summary = build_summary(
        samples, targets, run_meta, before, after, _locust_entries(files.stats_json),
        warmup_samples=_read_samples(files.warmup_samples),
        service_before_warmup=at_start if config.warmup_s else None, rss_readings=rss_readings,
        thresholds=thresholds, browser_samples=_read_samples(run_dir / SAMPLES_FILE))
    if baseline is not None:
        # The same judgement as the gate's: a regression beyond its margin fails the run.
        summary["baseline"] = compare_baseline(summary, baseline)
        summary["baseline_id"] = (baseline.get("run") or {}).get("id")
        summary["baseline_settings_differ"] = settings_differ(summary, baseline)
        summary["verdict"] = overall_verdict([*summary["targets"], *summary["thresholds"],
                                              *summary["baseline"], *aborted_checks(run_meta)])
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = verdict_table(summary)
    (run_dir / "verdict.txt").write_text(table + "\n")
    present = [p.name for p in run_dir.iterdir()]
    (run_dir / "report.html").write_text(render_html(summary, baseline, present))
    files.progress.unlink(missing_ok=True)
    out.write(f"\n{table}\n\nrun folder: {run_dir} (report.html, summary.json, samples.jsonl)\n")
    _annotate(config, summary, out)
    return RunResult(run_dir, summary, pids)
