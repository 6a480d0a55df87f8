"""The warm-up and the soak's memory figures, derived from synthetic runs; their options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtests.report import render_html, verdict_table
from loadtests.runner.config import SOAK_DEFAULTS, RunConfig, parse_args
from loadtests.runner.locust_process import LocustFiles, progress_line
from loadtests.summary import build_summary
from tests.loadtests.conftest import TARGETS, run_meta, sample

_MB = 1024 * 1024


def _cache(lookups: int, hits: int) -> dict:
    return {"cache": {"lookups": lookups, "hits": hits, "hits_by_tier": {"exact": hits}},
            "openai": {"models": {}}}


def test_only_the_measured_part_is_judged_and_the_warm_up_stays_visible() -> None:
    warmup = [sample(started_epoch_s=990.0)] * 9 + [sample(cache="hit", tier="exact")]
    measured = [sample(cache="hit", tier="exact")] * 4 + [sample()] * 6
    summary = build_summary(measured, TARGETS, run_meta(warmup_s=20), _cache(10, 1),
                            _cache(20, 5), warmup_samples=warmup,
                            service_before_warmup=_cache(0, 0))
    assert summary["cache_hit_rate"] == pytest.approx(0.4)  # 4 of the 10 lookups after warm-up
    assert summary["requests"] == 10
    assert summary["warmup_cache_hit_rate"] == pytest.approx(0.1)
    assert summary["warmup"] == {
        "duration_s": 20, "requests": 10, "errors": 0, "cache_lookups_service": 10,
        "cache_hit_rate_service": 0.1, "cache_lookups_samples": 10,
        "cache_hit_rate_samples": 0.1, "cache_hit_rate": 0.1}
    table = verdict_table(summary).splitlines()
    # The line under the verdict is what was judged; the warm-up's figures have their own line.
    assert table[1] == "judged: 60 s of load, 10 requests, 0 errors"
    assert table[2] == ("not counted: the 20 s warm-up before them (10 requests, 0 errors, cache "
                        "hit rate 10.0 % from a cold cache)")
    assert "20 s warm-up" in render_html(summary)


def test_a_run_without_warm_up_says_so() -> None:
    summary = build_summary([sample()], TARGETS, run_meta(warmup_s=0))
    assert summary["warmup"] is None and summary["warmup_cache_hit_rate"] is None
    assert verdict_table(summary).splitlines()[1] == (
        "judged: 60 s of load, 1 requests, 0 errors, from a cold start (no warm-up)")


def _reading(t: float, worker_mb: float, master_mb: float = 40.0) -> dict:
    return {"epoch_s": t, "master_bytes": master_mb * _MB,
            "workers_bytes": {"11": worker_mb / 2 * _MB, "12": worker_mb / 2 * _MB}}


def test_memory_growth_compares_medians_after_the_warm_up() -> None:
    # 30 minutes after a warm-up that started at 900 s, every 5 s: 200 MB growing 10 MB/h,
    # a single 400 MB reading mid-way at the start, and the warm-up's own (lower) readings.
    readings = [_reading(900.0 + 5 * i, 150.0) for i in range(20)]
    readings += [_reading(1000.0 + 5 * i, 200.0 + 10 * (5 * i) / 3600) for i in range(361)]
    meta = run_meta(warmup_s=100, finished_epoch_s=2800.0)
    clean = build_summary([sample()], TARGETS, meta, rss_readings=readings)["rss"]
    assert clean["slope_mb_per_h"] == pytest.approx(10.0, abs=0.1)
    readings[25] = _reading(readings[25]["epoch_s"], 400.0)
    index = [{"cache": {"lookups": 0, "hits": 0, "semantic_index": n}, "openai": {"models": {}}}
             for n in (500, 2600)]
    summary = build_summary([sample()], TARGETS, meta, *index, rss_readings=readings)
    rss = summary["rss"]
    assert rss["samples"] == 361 and rss["first_s"] == 0 and rss["last_s"] == 1800
    assert rss["window_s"] == 60
    # medians of the first and last minute: ~200.08 and ~204.92 MB; the 400 MB spike is ignored
    assert rss["start_mb"] == pytest.approx(200.1, abs=0.05)
    assert rss["end_mb"] == pytest.approx(204.9, abs=0.05)
    assert summary["rss_growth_pct"] == pytest.approx(2.42, abs=0.02)
    assert rss["slope_mb_per_h"] == pytest.approx(10.0, abs=0.2)
    assert rss["workers"] == rss["worker_pids_seen"] == 2
    assert rss["before_warmup_mb"] == 150.0
    assert (rss["semantic_index_start"], rss["semantic_index_end"]) == (500, 2600)
    assert len(summary["rss_mb"]["t_s"]) == 361 == len(summary["rss_mb"]["workers"])
    table = verdict_table(summary)
    assert "memory (RSS, 2 workers): 200.1 MB → 204.9 MB, growth +2.4" in table
    assert "semantic index 500 → 2600 entries" in table
    assert "memory (RSS summed), growth +2.4" in render_html(summary)


def test_a_run_without_memory_samples_has_no_memory_figures() -> None:
    summary = build_summary([sample()], TARGETS, run_meta())
    assert summary["rss"] is None and summary["rss_growth_pct"] is None
    assert "memory" not in verdict_table(summary)


def test_warm_up_option_default_zero_and_soak_defaults() -> None:
    assert parse_args([]).warmup_s == RunConfig().warmup_s == 20
    assert parse_args(["--warmup", "0"]).warmup_s == 0
    assert parse_args(["--warmup", "1m"]).warmup_s == 60
    soak = parse_args(["--sample-interval", "10s"], soak=True)
    assert (soak.duration_s, soak.users, soak.warmup_s) == (
        SOAK_DEFAULTS.duration_s, SOAK_DEFAULTS.users, SOAK_DEFAULTS.warmup_s)
    assert soak.rss_interval_s == 10.0 and soak.shape == "steady"
    with pytest.raises(SystemExit):
        parse_args(["--host", "http://127.0.0.1:1"], soak=True)  # it samples its own service


def test_progress_line_names_the_phase_on_the_loads_own_clock(tmp_path: Path) -> None:
    """The clock is the load's (from Locust's test start), not the runner's: Locust's imports
    took ~5 s, and the line read 'measure' five seconds before measuring began."""
    files = LocustFiles(tmp_path)
    assert progress_line(files, RunConfig()).startswith("[   -s/20s+60s] starting Locust")
    figures = {"users": 30, "requests": 12, "errors": 0, "ttft_p95_s": 0.5, "hit_rate": 0.1}
    files.progress.write_text(json.dumps({**figures, "phase": "warm-up", "elapsed_s": 5.2}))
    line = progress_line(files, RunConfig())
    assert line.startswith("[   5s/20s+60s] warm-up (not counted) · users   30")
    files.progress.write_text(json.dumps({**figures, "phase": "measure", "elapsed_s": 20.4}))
    assert progress_line(files, RunConfig()).startswith("[  20s/20s+60s] measure · ")
