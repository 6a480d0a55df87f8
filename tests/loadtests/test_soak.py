"""A short soak end to end: a warm-up that is not counted, then steady load with memory sampled.

One run through ``python -m loadtests soak`` serves both: the warm-up's boundary (samples,
Locust's stats and the service's counters all split at the same moment) and the memory figures.
A growth threshold from a few seconds would mean nothing, so the figures are checked for being
there and covering the run, not for their size; the 30-minute figure is in docs/load.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtests.soak import main as soak_main
from tests.loadtests.conftest import TARGETS

pytestmark = pytest.mark.integration

WARMUP_S, DURATION_S, INTERVAL_S = 3, 8, 1


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("soak")
    targets = tmp_path_factory.mktemp("targets") / "targets.yaml"
    # Seconds of load cannot fill the cache; every other target still holds.
    targets.write_text("".join(f"{key}: {value}\n" for key, value in
                               {**TARGETS, "cache_hit_rate_min": 0.0}.items()))
    code = soak_main(["--profile", "fast", "--users", "4", "--spawn-rate", "4",
                      "--think-time", "0.05,0.2", "--duration", f"{DURATION_S}s",
                      "--warmup", f"{WARMUP_S}s", "--sample-interval", f"{INTERVAL_S}s",
                      "--stop-timeout", "5", "--targets", str(targets), "--out", str(out),
                      "--no-strict"])  # seconds of load are rightly inconclusive, also in CI
    assert code == 0
    (run_dir,) = out.iterdir()
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_memory_growth_is_reported_over_the_whole_measured_run(
        soak: tuple[Path, dict[str, Any]]) -> None:
    run_dir, summary = soak
    assert isinstance(summary["rss_growth_pct"], float)
    rss = summary["rss"]
    assert rss["workers"] == 1 and rss["start_mb"] > 10 and rss["master_start_mb"] > 10
    # Readings from the warm-up's end to the run's end, one per interval.
    assert rss["first_s"] <= INTERVAL_S + 0.5
    assert rss["last_s"] >= DURATION_S - INTERVAL_S
    assert rss["samples"] >= DURATION_S / INTERVAL_S - 2
    assert rss["before_warmup_mb"] is not None
    assert len(_lines(run_dir / "rss.jsonl")) > rss["samples"]  # the warm-up's readings too
    assert "memory (RSS summed)" in (run_dir / "report.html").read_text()


def test_the_warm_up_is_left_out_of_every_count(soak: tuple[Path, dict[str, Any]]) -> None:
    run_dir, summary = soak
    assert summary["run"]["warmup_s"] == WARMUP_S
    measured, warmup = _lines(run_dir / "samples.jsonl"), _lines(run_dir / "warmup.jsonl")
    boundary = summary["run"]["started_epoch_s"]
    assert measured and all(s["started_epoch_s"] >= boundary for s in measured)
    assert warmup and all(s["started_epoch_s"] < boundary for s in warmup)
    assert summary["warmup"]["requests"] == len(warmup)
    assert isinstance(summary["warmup_cache_hit_rate"], float)
    # Locust's stats were reset at the boundary and never saw a warm-up request.
    assert summary["locust_entries"]["POST /api/chat/stream"] == len(measured)
    # The service's counters were read at the boundary: lookups agree up to the warm-up
    # requests that could reach the service after that read began (one in flight per user,
    # and those started while the read took its round trip).
    read_from = json.loads((run_dir / "warmup.json").read_text())["counters_read_epoch_s"]
    straddling = summary["run"]["users"] + sum(s["started_epoch_s"] >= read_from for s in warmup)
    assert abs(summary["cache_lookups_service"] - summary["cache_lookups_samples"]) <= straddling
    assert summary["cache_hit_rate_agree"] is True
