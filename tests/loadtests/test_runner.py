"""The runner end to end: a few seconds of real load on the fast simulator profile.

One run is shared by the module; each test asserts one thing a user of ``make load`` relies on.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtests.gate import main as gate_main
from loadtests.runner import RunResult
from tests.support import pid_alive

pytestmark = pytest.mark.integration

_FILES = ("summary.json", "samples.jsonl", "report.html", "verdict.txt", "locust_stats.csv",
          "locust_stats_history.csv", "locust_failures.csv", "locust_stats.json")


def test_run_folder_has_every_file_and_field(fast_run: RunResult) -> None:
    for name in _FILES:
        assert (fast_run.run_dir / name).stat().st_size > 0, name
    summary = json.loads((fast_run.run_dir / "summary.json").read_text())
    for field in ("requests", "error_rate", "ttft_p50_s", "ttft_p95_s", "ttft_p99_s",
                  "full_response_avg_s", "cache_hit_rate", "throughput_rps", "goodput_rps",
                  "verdict", "targets"):
        assert summary[field] is not None, field
    assert summary["verdict"] in ("pass", "fail", "inconclusive")
    assert {t["target"] for t in summary["targets"]} == {
        "perceived_p95_seconds", "cache_hit_rate_min", "full_response_avg_seconds_max",
        "error_rate_max"}
    assert "<svg" in (fast_run.run_dir / "report.html").read_text()


def _csv_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {f"{row['Type']} {row['Name']}".strip(): row for row in csv.DictReader(handle)}


def test_locust_counts_what_the_summary_counts(fast_run: RunResult) -> None:
    """Locust's own totals (CSV, JSON) hold the real requests only, failures included."""
    lines = (fast_run.run_dir / "samples.jsonl").read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    summary = json.loads((fast_run.run_dir / "summary.json").read_text())
    assert len(samples) == summary["requests"] > 10
    assert summary["locust_entries"] == {"POST /api/chat/stream": summary["requests"]}
    rows = _csv_rows(fast_run.run_dir / "locust_stats.csv")
    assert set(rows) == {"POST /api/chat/stream", "Aggregated"}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) == summary["requests"]
    assert int(total["Failure Count"]) == summary["errors"]
    # Locust's time of a request is the user's full response, not the time to the headers.
    mean_ms = sum(s["total_ms"] for s in samples) / len(samples)
    assert float(total["Average Response Time"]) == pytest.approx(mean_ms, rel=0.01)
    html = (fast_run.run_dir / "locust.html").read_text()
    assert "SSE" not in html and "CACHE" not in html


def test_service_overhead_is_measured_never_negative_and_adds_up(fast_run: RunResult) -> None:
    """The overhead, the upstream TTFT beside it and the requests' TTFT describe the same
    requests (before, 5.7 ms of overhead stood beside two means 1.9 ms apart)."""
    summary = fast_run.summary
    overhead = summary["service_overhead_ms"]
    assert overhead is not None and 0 <= overhead < summary["service_ttft_led_mean_ms"]
    # The upstream's own TTFT of the calls clients waited for (origin="request").
    assert 0 < summary["upstream_ttft_mean_ms"] < summary["service_ttft_led_mean_ms"]
    assert summary["led_requests"] == summary["upstream_calls"] > 0


def test_throughput_leaves_out_the_stop_tail(fast_run: RunResult) -> None:
    summary = fast_run.summary
    run = summary["run"]
    assert run["started_epoch_s"] < run["measured_until_epoch_s"] <= run["finished_epoch_s"]
    window = run["measured_until_epoch_s"] - run["started_epoch_s"]
    assert summary["window_s"] == pytest.approx(window, abs=0.01)
    inside = summary["requests"] - summary["stop_tail_requests"]
    assert summary["throughput_rps"] == pytest.approx(inside / window, rel=0.01)
    assert 0 < summary["goodput_rps"] <= summary["throughput_rps"]


def test_hit_rate_agrees_with_the_service_counters(fast_run: RunResult) -> None:
    summary = fast_run.summary
    assert summary["cache_lookups_service"] == summary["cache_lookups_samples"]
    assert summary["cache_hit_rate_service"] == pytest.approx(
        summary["cache_hit_rate_samples"], abs=0.001)
    assert summary["cache_hit_rate_agree"] is True


def test_every_request_carries_a_trace_id(fast_run: RunResult) -> None:
    lines = (fast_run.run_dir / "samples.jsonl").read_text().splitlines()
    trace_ids = [json.loads(line)["trace_id"] for line in lines]
    assert all(len(t) == 32 for t in trace_ids)
    assert len(set(trace_ids)) == len(trace_ids)


def test_nothing_is_left_running(fast_run: RunResult) -> None:
    assert len(fast_run.pids) >= 3  # simulator, service, locust (redis when installed)
    assert not [pid for pid in fast_run.pids if pid_alive(pid)]


def test_gate_passes_and_fails_on_the_same_run(
        fast_run: RunResult, write_targets: Callable[..., Path]) -> None:
    lenient = write_targets(cache_hit_rate_min=0.0)  # a few seconds cannot warm the cache
    assert gate_main([str(fast_run.run_dir), "--targets", str(lenient)]) == 0
    strict = write_targets(cache_hit_rate_min=0.0, perceived_p95_seconds=0.001)
    assert gate_main([str(fast_run.run_dir), "--targets", str(strict)]) == 1
    assert "FAIL" in (fast_run.run_dir / "gate.md").read_text()


def test_gate_against_its_own_run_as_baseline_passes(
        fast_run: RunResult, write_targets: Callable[..., Path]) -> None:
    lenient = write_targets(cache_hit_rate_min=0.0)
    baseline = fast_run.run_dir / "summary.json"
    assert gate_main([str(fast_run.run_dir), "--targets", str(lenient),
                      "--baseline", str(baseline)]) == 0
