"""Runs are isolated, labelled and stopped for the right reason (issue 24), end to end.

Each test is a few seconds of real load on the fast simulator profile, or a run that must refuse
to start; what is asserted is what a user of ``make load`` would notice.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtests.processes import ManagedProcess, free_port
from loadtests.runner import RunResult
from loadtests.runner.config import parse_args
from tests.loadtests.conftest import short_run

pytestmark = pytest.mark.integration


def _redis_keys(redis: ManagedProcess, pattern: str) -> list[str]:
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan", "--pattern", pattern],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    return out.split()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory,
             redis_server: ManagedProcess) -> tuple[RunResult, RunResult]:
    """Two identical mixed runs on one persistent Redis, as two `make load` with REDIS_URL."""
    out = tmp_path_factory.mktemp("runs")
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    return (short_run(out, mix="mixed", users=10, redis_url=url),
            short_run(out, mix="mixed", users=10, redis_url=url))


def test_runs_sharing_a_redis_do_not_share_a_cache(two_runs: tuple[RunResult, RunResult],
                                                   redis_server: ManagedProcess) -> None:
    """Two identical cold runs on a persistent REDIS_URL measured 10.7 % then 60.0 %."""
    first, second = (run.summary["run"]["cache_namespace"] for run in two_runs)
    assert first != second and first.startswith("chatperf-run-")
    # Keys carry the namespace as a hash tag ("{chatperf-run-…}:e:…"): one cluster slot.
    assert _redis_keys(redis_server, f"{{{first}}}*") and _redis_keys(redis_server,
                                                                       f"{{{second}}}*")


def test_locust_stats_csv_has_every_endpoint_row(two_runs: tuple[RunResult, RunResult]) -> None:
    """Every endpoint row read 0 while 'Aggregated' said 359."""
    run = two_runs[0]
    with open(run.run_dir / "locust_stats.csv", newline="", encoding="utf-8") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    endpoints = run.summary["endpoints"]
    assert len(endpoints) == 3
    for name, figures in endpoints.items():
        assert int(rows[name.split(" ", 1)[1]]["Request Count"]) == figures["requests"] > 0
    assert int(rows["Aggregated"]["Request Count"]) == run.summary["requests"]
    stats = json.loads((run.run_dir / "locust_stats.json").read_text())
    assert sum(entry["num_requests"] for entry in stats) == run.summary["requests"]


def test_a_summary_says_what_and_where_it_measured(two_runs: tuple[RunResult, RunResult]) -> None:
    run = two_runs[0].summary["run"]
    assert run["machine"]["cpus"] >= 1 and run["machine"]["cpu_model"] is not None
    assert len(run["machine"]["load_average_before"]) == 3
    assert len(run["machine"]["load_average_after"]) == 3
    assert len(run["commit"]["sha"]) == 40
    assert run["upstream_kind"] == "simulator" and run["cache_backend_kind"] == "redis"


def test_a_regression_against_the_baseline_fails_the_run(
        two_runs: tuple[RunResult, RunResult], tmp_path: Path) -> None:
    """`run --baseline` said INCONCLUSIVE, exit 0, while its own report showed regressions."""
    baseline = json.loads((two_runs[0].run_dir / "summary.json").read_text())
    baseline["ttft_p95_s"] = 0.0001  # a baseline this run cannot match
    baseline["run"]["users"] = 40
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline))
    result = short_run(tmp_path, baseline=path, duration_s=3)
    assert result.verdict == "fail"
    assert any(not b["passed"] and b["metric"] == "ttft_p95_s"
               for b in result.summary["baseline"])
    verdict = (result.run_dir / "verdict.txt").read_text()
    assert "vs baseline: ttft_p95_s" in verdict
    assert "the baseline ran with other settings: users 4 (baseline 40)" in verdict


def test_a_redis_outage_is_named_in_the_verdict(tmp_path: Path) -> None:
    """A Redis outage during a run showed only as hit rate 0.0 %."""
    result = short_run(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0", duration_s=4)
    assert result.summary["cache_backend_errors"] > 0
    assert "CACHE OUTAGE" in (result.run_dir / "verdict.txt").read_text()


def test_a_threshold_with_abort_on_fail_stops_the_run(tmp_path: Path) -> None:
    started = time.monotonic()
    result = short_run(tmp_path, duration_s=60, thresholds=("ttft_p50_s<0.000001",),
                       abort_on_fail=True)
    assert time.monotonic() - started < 45  # stopped well before its 60 s
    aborted = result.summary["run"]["aborted"]
    assert aborted["threshold"] == "ttft_p50_s < 1e-06" and aborted["after_s"] < 20
    assert result.verdict == "fail"
    assert "ABORTED after" in (result.run_dir / "verdict.txt").read_text()


def test_make_load_uses_the_simulator_whatever_the_shell_exports() -> None:
    """An exported OPENAI_BASE_URL turned `make load` into billed traffic, --profile ignored."""
    shell = {"OPENAI_BASE_URL": "https://api.example.com/v1"}
    assert parse_args([], shell).upstream_url is None
    assert parse_args(["--upstream", "env"], shell).upstream_url == shell["OPENAI_BASE_URL"]
    for refused in (["--upstream", "env", "--profile", "slow"], ["--upstream", "env"]):
        with pytest.raises(SystemExit):
            parse_args(refused, shell if "--profile" in refused else {})


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtests", "run", *args], text=True,
                          capture_output=True, timeout=120, env=env, check=False)


def test_an_unreachable_upstream_is_one_line_with_its_cause(tmp_path: Path) -> None:
    """Today: 30 s of waiting, then 'readyz … 503' with no cause."""
    env = {**os.environ, "OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    done = _run_cli("--upstream", "env", "--out", str(tmp_path), env=env)
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("harness error")]
    assert error and "unreachable" in error[0] and "refused" in error[0].lower(), done.stderr


def test_a_missing_browser_is_found_before_anything_starts(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no chromium on it
    done = _run_cli("--browsers", "1", "--out", str(tmp_path), env=env)
    assert done.returncode == 2
    assert "--browsers needs a browser: chromium is not installed" in done.stderr
    assert "chatperf load: service" not in done.stderr  # nothing was started
