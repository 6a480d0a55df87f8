"""``python -m loadtests run --instances 2 --prometheus``: a real run through real NGINX in front
of two real instances sharing a real Redis, scraped by a real Prometheus; the report has each
instance's figures and totals that add up.

One short run for the module (a 2 s warm-up, so the warm-up's end reads both instances too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtests.nginx import nginx_binary
from loadtests.runner import RunResult
from loadtests.runner.config import parse_args
from loadtests.runner.service_stats import merged
from tests.loadtests.conftest import short_run
from tests.support import pid_alive, require_binary

pytestmark = pytest.mark.timeout(240)

COUNTS = ("requests", "cache_lookups", "cache_hits", "upstream_calls")


@pytest.fixture(scope="module")
def fleet_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    nginx_binary() or require_binary("nginx", "nginx")
    require_binary("redis-server", "redis-server")
    require_binary("prometheus", "prometheus")
    return short_run(tmp_path_factory.mktemp("runs"), instances=2, users=6, spawn_rate=6.0,
                     duration_s=6, warmup_s=2, prometheus=True)


def test_both_instances_served_and_the_totals_are_their_sums(fleet_run: RunResult) -> None:
    summary = fleet_run.summary
    assert summary["run"]["instances"] == 2
    rows, total = summary["instances"]["instances"], summary["instances"]["total"]
    assert len({row["instance"] for row in rows}) == 2
    for row in rows:  # least_conn spreads six users over both
        assert row["requests"] > 0 and row["cache_lookups"] > 0 and row["upstream_calls"] > 0
        assert row["rss_mb"] > 0
    for key in COUNTS:
        assert total[key] == sum(row[key] for row in rows), key
    assert total["rss_mb"] == pytest.approx(sum(row["rss_mb"] for row in rows), abs=0.11)
    assert total["cache_hit_rate"] == round(total["cache_hits"] / total["cache_lookups"], 4)
    # The figures the verdict judges are the fleet's: the same counters, summed.
    assert summary["cache_lookups_service"] == total["cache_lookups"]
    assert summary["upstream_calls"] == total["upstream_calls"]
    assert summary["errors"] == 0


def test_the_report_shows_each_instance_and_the_totals(fleet_run: RunResult) -> None:
    names = [row["instance"] for row in fleet_run.summary["instances"]["instances"]]
    verdict = (fleet_run.run_dir / "verdict.txt").read_text()
    html = (fleet_run.run_dir / "report.html").read_text()
    total = fleet_run.summary["instances"]["total"]
    assert all(name in verdict for name in names)
    assert any(line.startswith("total ") and f" {total['requests']} " in line
               for line in verdict.splitlines())
    assert "<h2>Instances</h2>" in html and all(name in html for name in names)
    summary = json.loads((fleet_run.run_dir / "summary.json").read_text())
    assert summary["instances"] == fleet_run.summary["instances"]


def test_prometheus_scraped_each_instance_under_its_own_label(fleet_run: RunResult) -> None:
    config = yaml.safe_load((fleet_run.run_dir / "prometheus" / "prometheus.yml").read_text())
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == "chatperf"]
    names = [row["instance"] for row in fleet_run.summary["instances"]["instances"]]
    assert [(sc["targets"], sc["labels"]["instance"]) for sc in job["static_configs"]] == [
        ([name], name) for name in names]
    assert any((fleet_run.run_dir / "prometheus" / "data").iterdir())


def test_every_process_left_its_log_and_stopped(fleet_run: RunResult) -> None:
    logs = {path.name for path in Path(fleet_run.run_dir / "logs").iterdir()}
    assert {"service.log", "service-2.log", "nginx.log", "redis.log", "prometheus.log"} <= logs
    assert not [pid for pid in fleet_run.pids if pid_alive(pid)]


@pytest.mark.parametrize(("argv", "problem"), [
    (["--instances", "0"], "--instances must be 1 or more"),
    (["--instances", "2", "--host", "http://127.0.0.1:9"], "--host loads a running service"),
])
def test_instances_refused_when_they_cannot_be(argv: list[str], problem: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv, environ={})
    assert problem in capsys.readouterr().err


def test_one_instance_is_todays_path() -> None:
    assert parse_args([], environ={}).instances == 1


def _instance(lookups: int, made: int, served: int, output_tokens: int) -> dict[str, Any]:
    """One instance's snapshot, shaped as ``service_stats.snapshot`` reads it."""
    return {
        "metrics": {"overhead": {"count": lookups, "sum": 0.1}, "upstream_ttft": None},
        "openai": {"upstream": "simulator", "requests": lookups, "errors": 0},
        "cache": {"backend": "redis", "entries": 40, "lookups": lookups, "hits": served * 2,
                  "misses": lookups - served * 2, "prewarm": {"made": 1},
                  "variants": {"per_key": 3, "after_hits": 3, "keys": 5, "made": made,
                               "served": served, "skipped": 1, "wasted": 2,
                               "upstream_calls": made + 2,
                               "upstream_tokens": {"input": 10 * made,
                                                   "output": output_tokens}}},
    }


def test_the_fleet_s_variant_counts_are_each_instance_s_summed() -> None:
    fleet = merged({"a:1": _instance(100, 3, 20, 300), "b:2": _instance(60, 1, 10, 90)})
    variants = fleet["cache"]["variants"]
    assert (variants["made"], variants["served"], variants["skipped"], variants["wasted"],
            variants["upstream_calls"]) == (4, 30, 2, 4, 8)
    assert variants["upstream_tokens"] == {"input": 40, "output": 390}
    # The shared cache's own figures and the settings are one, not one per instance.
    assert (variants["per_key"], variants["after_hits"], variants["keys"]) == (3, 3, 5)
    assert fleet["cache"]["entries"] == 40 and fleet["cache"]["lookups"] == 160
