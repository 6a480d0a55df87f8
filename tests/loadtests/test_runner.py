"""The runner end to end: a few seconds of real load on the fast simulator profile.

One run is shared by the module; each test asserts one thing a user of ``make load`` relies on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtests.gate import main as gate_main
from loadtests.runner import RunResult

pytestmark = pytest.mark.integration

_FILES = ("summary.json", "samples.jsonl", "report.html", "verdict.txt", "locust_stats.csv",
          "locust_stats_history.csv", "locust_failures.csv", "locust_stats.json")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) until reaped; it no longer runs.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_run_folder_has_every_file_and_field(fast_run: RunResult) -> None:
    for name in _FILES:
        assert (fast_run.run_dir / name).stat().st_size > 0, name
    summary = json.loads((fast_run.run_dir / "summary.json").read_text())
    for field in ("requests", "error_rate", "ttft_p50_s", "ttft_p95_s", "ttft_p99_s",
                  "full_response_avg_s", "cache_hit_rate", "goodput", "service_overhead_ms",
                  "verdict", "targets"):
        assert summary[field] is not None, field
    assert summary["verdict"] in ("pass", "fail")
    assert {t["target"] for t in summary["targets"]} == {
        "perceived_p95_seconds", "cache_hit_rate_min", "full_response_avg_seconds_max",
        "error_rate_max"}
    assert "<svg" in (fast_run.run_dir / "report.html").read_text()


def test_samples_match_locust_own_totals(fast_run: RunResult) -> None:
    lines = (fast_run.run_dir / "samples.jsonl").read_text().splitlines()
    samples = [json.loads(line) for line in lines]
    entries = fast_run.summary["locust_entries"]
    assert len(samples) == fast_run.summary["requests"] > 10
    assert entries["POST /api/chat/stream"] == len(samples)
    assert entries["SSE full_response"] == len(samples)
    assert entries["SSE ttft"] == sum(s["ttft_ms"] is not None for s in samples)
    cache_entries = sum(v for k, v in entries.items() if k.startswith("CACHE "))
    assert cache_entries == sum(s["cache"] is not None and s["kind"] != "quick" for s in samples)


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
    assert not [pid for pid in fast_run.pids if _pid_alive(pid)]


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
