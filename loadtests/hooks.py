"""Locust event hooks: chatperf's options, the mix, per-request samples, the warm-up, progress.

Each finished request becomes exactly one Locust request (its path, the time to the end of the
answer as the user saw it, success or the reason it failed) and one raw sample. TTFT, time to
``meta``, inter-token latency, cache outcome and model travel as that request's ``context`` and,
typed, in ``samples.jsonl``: they are figures *of* a request, not requests, so Locust's totals,
web UI, CSVs and HTML report count what ``summary.json`` counts.
Samples travel the way Locust's own stats do: a worker attaches them to its periodic report to
the master, and only the master (or a local runner) writes ``samples.jsonl`` — so the samples and
Locust's totals are counted from the same reports, on one machine or several.

With ``--warmup-seconds`` the same users load the service for that long first, uncounted. The
master (or local runner) ends the warm-up at one moment: it notes the time, reads the service's
counters (``warmup.json``, the "before" of the run's hit rate), resets Locust's stats and tells
the workers to reset theirs. A request belongs to the phase in which it *started* — as the
service counts its cache lookup when it starts — so warm-up requests still finishing afterwards
go to ``warmup.jsonl`` and never into Locust's entries or ``samples.jsonl``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from loadtests.client_metrics import ClientMetrics
from loadtests.confidence import percentile
from loadtests.measure import Sample
from loadtests.runner.service_stats import fleet_snapshot
from loadtests.shapes import DEFAULT_SHAPE, SHAPES
from loadtests.summary import build_summary
from loadtests.thresholds import Threshold, evaluate_thresholds
from loadtests.users.mix import DEFAULT_MIX, MIXES, apply_mix

__all__ = ["Progress", "record"]

_REPORT_KEY = "chatperf_samples"
_MEASURE_MESSAGE = "chatperf_measure_from"  # master → workers: the warm-up has ended
# The per-request figures handed to Locust's request event as ``context`` (for listeners such
# as an OpenTelemetry exporter); the same fields are columns of samples.jsonl.
_CONTEXT = ("kind", "request_id", "trace_id", "cache", "tier", "model", "model_tier", "meta_ms",
            "ttft_ms", "itl_ms", "output_tokens")

_buffer: list[dict[str, Any]] = []
_measure_from = 0.0  # epoch seconds: requests started earlier belong to the warm-up
_load_started: float | None = None  # epoch seconds: the test (the load) started, for the clock


class Progress:
    """Running totals over the samples this process wrote, for the live progress line, and the
    samples themselves, for thresholds that abort a run (k6's ``abortOnFail``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.requests = self.errors = self.hits = self.lookups = 0
        self.ttft_ms: list[float] = []
        self.records: list[dict[str, Any]] = []
        self.closed = False
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def add(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.records.append(record)
            self.requests += 1
            self.errors += not record["ok"]
            if record["cache"] is not None and record["kind"] != "quick":
                self.lookups += 1
                self.hits += record["cache"] == "hit"
            if record["ttft_ms"] is not None:
                self.ttft_ms.append(record["ttft_ms"])
            if self._file is not None:
                self._file.write(json.dumps(record) + "\n")
        if self._file is not None:
            self._file.flush()

    def snapshot(self, users: int, phase: str, elapsed_s: float | None) -> dict[str, Any]:
        p95 = percentile(self.ttft_ms, 0.95)
        return {"time": time.time(), "elapsed_s": elapsed_s, "phase": phase, "users": users,
                "requests": self.requests, "errors": self.errors,
                "ttft_p95_s": None if p95 is None else p95 / 1000,
                "hit_rate": self.hits / self.lookups if self.lookups else None}

    def close(self) -> None:
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


_progress = Progress(None)
_warmup = Progress(None)
_client_metrics: ClientMetrics | None = None


def _keep(records: list[dict[str, Any]]) -> None:
    """Master or local runner: file each sample under the phase in which it started.

    The client TTFT histogram (when served) sees every request, warm-up included: it shows
    what users saw over time, as the service's own histogram does.
    """
    if _client_metrics is not None:
        _client_metrics.observe(records)
    _warmup.add([r for r in records if r["started_epoch_s"] < _measure_from])
    _progress.add([r for r in records if r["started_epoch_s"] >= _measure_from])


def _report_to_locust(environment: Any, sample: Sample, path: str) -> None:
    """One Locust request per finished request; its figures ride along as ``context``."""
    context = {name: getattr(sample, name) for name in _CONTEXT}
    environment.events.request.fire(
        request_type="POST", name=path, response_time=sample.total_ms or 0.0,
        response_length=sample.response_bytes, context=context,
        exception=RuntimeError(sample.error) if sample.error else None,
    )


def record(environment: Any, sample: Sample, path: str) -> None:
    """Report one finished request to Locust (``path``, one entry) and keep its raw sample.

    A warm-up request is kept as a sample of the warm-up only: Locust's stats never see it.
    """
    if sample.started_epoch_s >= _measure_from:
        _report_to_locust(environment, sample, path)
    record_dict = sample.as_dict()
    record_dict["users"] = environment.runner.user_count if environment.runner else 0
    if isinstance(environment.runner, WorkerRunner):
        _buffer.append(record_dict)
    else:
        _keep([record_dict])


@events.init_command_line_parser.add_listener
def on_init_command_line_parser(parser: Any, **_kwargs: Any) -> None:
    """chatperf's own options; each also readable from a ``CHATPERF_*`` variable."""
    parser.add_argument("--mix", choices=list(MIXES), default=DEFAULT_MIX,
                        env_var="CHATPERF_MIX", help="scenario mix (user classes and weights)")
    parser.add_argument("--load-shape", choices=SHAPES, default=DEFAULT_SHAPE,
                        env_var="CHATPERF_SHAPE", help="load shape over the run")
    parser.add_argument("--arrival-rate", type=float, default=5.0, env_var="CHATPERF_ARRIVAL_RATE",
                        help="requests started per second with --load-shape arrival")
    parser.add_argument("--think-time", default="1,3", env_var="CHATPERF_THINK_TIME",
                        help="seconds a user waits between requests: MIN,MAX")
    parser.add_argument("--workload-seed", type=int, default=0, env_var="CHATPERF_WORKLOAD_SEED",
                        help="seed of the workload's session generator")
    parser.add_argument("--samples-file", default="", env_var="CHATPERF_SAMPLES_FILE",
                        help="append one JSON line per finished request here (master/local)")
    parser.add_argument("--progress-file", default="", env_var="CHATPERF_PROGRESS_FILE",
                        help="rewrite running totals here every second (master/local)")
    parser.add_argument("--warmup-seconds", type=float, default=0.0,
                        env_var="CHATPERF_WARMUP_SECONDS",
                        help="load this long first without counting it (part of --run-time)")
    parser.add_argument("--warmup-file", default="", env_var="CHATPERF_WARMUP_FILE",
                        help="at the warm-up's end write its end time and the service's "
                             "counters here (master/local)")
    parser.add_argument("--phases-file", default="", env_var="CHATPERF_PHASES_FILE",
                        help="write when the load started and stopped (run time over) here, "
                             "so throughput can leave out start-up and stop tail (master/local)")
    parser.add_argument("--client-metrics-port", type=int, default=0,
                        env_var="CHATPERF_CLIENT_METRICS_PORT",
                        help="serve the client-side TTFT histogram on /metrics at this port "
                             "for Prometheus (master/local; 0: off)")
    parser.add_argument("--client-metrics-host", default="127.0.0.1",
                        env_var="CHATPERF_CLIENT_METRICS_HOST",
                        help="address of that endpoint (0.0.0.0 in a container)")
    parser.add_argument("--abort-thresholds-file", default="",
                        env_var="CHATPERF_ABORT_THRESHOLDS_FILE",
                        help="JSON list of thresholds that stop the run once crossed (k6's "
                             "abortOnFail), checked every second on the measured samples "
                             "(master/local)")
    parser.add_argument("--service-stats-from", default="", env_var="CHATPERF_SERVICE_STATS_FROM",
                        help="comma-separated URLs of the instances behind --host (a proxy): "
                             "the warm-up's end reads and sums their counters (default: --host)")
    parser.add_argument("--warmup-samples-file", default="",
                        env_var="CHATPERF_WARMUP_SAMPLES_FILE",
                        help="append one JSON line per warm-up request here (master/local)")


def _path(option: str) -> Path | None:
    return Path(option) if option else None


@events.init.add_listener
def on_init(environment: Any, **_kwargs: Any) -> None:
    """Apply the mix; wire samples from workers to the master; start the progress writer and
    the client metrics endpoint."""
    global _progress, _warmup, _client_metrics
    options = environment.parsed_options
    apply_mix(environment, options.mix)
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.register_message(_MEASURE_MESSAGE, _on_measure_message)
        return
    _begin(options)
    _progress = Progress(_path(options.samples_file))
    _warmup = Progress(_path(options.warmup_samples_file))
    if isinstance(environment.runner, MasterRunner):
        environment.events.worker_report.add_listener(_on_worker_report)
    if options.client_metrics_port:
        _client_metrics = ClientMetrics()
        _client_metrics.serve(options.client_metrics_port, options.client_metrics_host)
    if options.progress_file:
        gevent.spawn(_write_progress, environment, Path(options.progress_file))
    if options.abort_thresholds_file:
        thresholds = [Threshold(**t) for t in
                      json.loads(Path(options.abort_thresholds_file).read_text())]
        gevent.spawn(_abort_on_fail, environment, thresholds)
    if getattr(options, "csv_prefix", None):
        # ``quit`` comes after the last reports and before Locust closes its CSV files.
        environment.events.quit.add_listener(
            lambda **_kw: _write_final_stats(environment, options.csv_prefix))


@events.test_start.add_listener
def on_test_start(environment: Any, **_kwargs: Any) -> None:
    """Every node: start in the warm-up if there is one; the master or local runner ends it.

    Workers read the option here, not at ``init``: a worker started by hand gets the master's
    options with its first spawn message, just before this event.
    """
    global _load_started
    warmup = _begin(environment.parsed_options)
    _load_started = time.time()
    _note_phase(environment, "started_epoch_s")
    if warmup > 0 and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn_later(warmup, _end_warmup, environment)


def _begin(options: Any) -> float:
    """Count nothing yet when there is a warm-up; returns its length in seconds."""
    global _measure_from
    warmup = float(options.warmup_seconds or 0)
    _measure_from = math.inf if warmup > 0 else 0.0
    return warmup


def _end_warmup(environment: Any) -> None:
    """The moment measuring starts: read the service's counters, note the time, reset stats.

    Nothing yields between noting the time and the reset, so no request finishing in between
    can be counted and then wiped; the counters are read just before (see ``snapshot``). That
    read takes a round trip, so a warm-up request can still reach the service after it: each
    user's request in flight when the read began, and any started during it. ``warmup.json``
    notes when the read began, so that window can be told apart.
    """
    global _measure_from
    reading = time.time()
    hosts = [h for h in environment.parsed_options.service_stats_from.split(",") if h] or (
        [environment.host.rstrip("/")] if environment.host else [])
    service = fleet_snapshot(hosts) if hosts else None
    _measure_from = time.time()
    environment.runner.stats.reset_all()
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(_MEASURE_MESSAGE, _measure_from)
    path = _path(environment.parsed_options.warmup_file)
    if path is not None:
        path.write_text(json.dumps({"ended_epoch_s": _measure_from, "service": service,
                                    "counters_read_epoch_s": reading}))


def _note_phase(environment: Any, name: str, value: Any = None) -> None:
    """Master or local runner: add ``name`` → ``value`` (default: now) to the phases file."""
    path = _path(getattr(environment.parsed_options, "phases_file", ""))
    if path is None or isinstance(environment.runner, WorkerRunner):
        return
    phases = json.loads(path.read_text()) if path.exists() else {}
    phases[name] = time.time() if value is None else value
    path.write_text(json.dumps(phases))


@events.test_stopping.add_listener
def on_test_stopping(environment: Any, **_kwargs: Any) -> None:
    """The load stops (its run time is over): what finishes later is the stop tail."""
    _note_phase(environment, "stopped_epoch_s")


def _on_measure_message(environment: Any, msg: Any, **_kwargs: Any) -> None:
    """Worker: the warm-up is over; drop the stats gathered so far, count from the master's time."""
    global _measure_from
    _measure_from = float(msg.data)
    environment.runner.stats.reset_all()


@events.report_to_master.add_listener
def on_report_to_master(data: dict[str, Any], **_kwargs: Any) -> None:
    """Worker: send the samples finished since the last report along with Locust's stats."""
    data[_REPORT_KEY] = list(_buffer)
    _buffer.clear()


def _on_worker_report(data: dict[str, Any], **_kwargs: Any) -> None:
    _keep(data.get(_REPORT_KEY) or [])


@events.quit.add_listener
def on_quit(**_kwargs: Any) -> None:
    """Close the samples files once Locust has received its last reports."""
    _warmup.close()
    _progress.close()


def _write_final_stats(environment: Any, prefix: str) -> None:
    """Write Locust's stats and failures CSVs, and ``<prefix>_stats.json``, from the final
    totals, every endpoint's row included.

    Locust refreshes its CSVs once a second while running and not after the last requests, so
    they could lag ``summary.json`` by the run's final second. Its own ``--json-file`` is not
    used: writing it resets every endpoint's entry (it serialises them as a worker report does),
    which left the per-endpoint rows of the CSV at zero. Each CSV is replaced whole (a new
    inode), so Locust's own still-open handle cannot write into it.
    """
    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv",
                                                                 writer.failures_csv)):
        path = Path(prefix + suffix)
        tmp = path.with_suffix(".final")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            write(csv.writer(handle))
        os.replace(tmp, path)
    entries = [entry.serialize() for entry in environment.runner.stats.entries.values()
               if entry.num_requests or entry.num_failures]
    Path(prefix + "_stats.json").write_text(json.dumps(entries, indent=2))


def _abort_on_fail(environment: Any, thresholds: list[Threshold]) -> None:
    """k6's ``abortOnFail``: once a threshold's ``delayAbortEval`` of measuring has passed, judge
    it every second on the samples so far; the first crossed stops the load, noted as
    ``aborted`` in the phases file (the run's verdict then fails and says why). A judgement
    costs more as samples pile up, so the pause after one is at least ten times its cost: the
    load generator spends at most a tenth of its time judging."""
    pause = 1.0
    while not _progress.closed:
        gevent.sleep(pause)
        if math.isinf(_measure_from) or not _progress.records:
            continue
        now = time.time()
        measuring_since = _measure_from or _load_started or now  # 0.0: no warm-up
        due = [t for t in thresholds if now - measuring_since >= t.delay_abort_eval_s]
        if not due:
            continue
        partial = build_summary(_progress.records, {}, {"started_epoch_s": measuring_since,
                                                        "finished_epoch_s": now})
        crossed = [r for r in evaluate_thresholds(partial, due) if not r["passed"]]
        pause = max(1.0, 10 * (time.time() - now))
        if crossed:
            _note_phase(environment, "aborted", {
                "threshold": crossed[0]["threshold"], "measured": crossed[0]["measured"],
                "after_s": round(now - measuring_since, 1), "requests": len(_progress.records)})
            environment.runner.quit()
            return


def _write_progress(environment: Any, path: Path) -> None:
    """Running totals of the current phase, for the runner's progress line."""
    tmp = path.with_suffix(".tmp")
    while not _progress.closed:
        runner = environment.runner
        users = runner.user_count if runner else 0
        warming = math.isinf(_measure_from)
        elapsed = None if _load_started is None else time.time() - _load_started
        current = (_warmup if warming else _progress).snapshot(
            users, "warm-up" if warming else "measure", elapsed)
        tmp.write_text(json.dumps(current))
        os.replace(tmp, path)
        gevent.sleep(1.0)
