"""The CI gate: a run's CPU ratio against a baseline written to and read from a real file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtests.overhead.bench import PointTallies, Tally
from loadtests.overhead.client import RoundResult, Sample
from loadtests.overhead.config import OverheadConfig, Point
from loadtests.overhead.gate import check, read_baseline, write_baseline
from loadtests.overhead.report import render_html, render_markdown
from loadtests.overhead.summary import derive_point

_CONFIG = OverheadConfig(points=(Point(16),), duration_s=8, rounds=2)


def _round(answers: int, errors: int = 0, ttft_s: float = 0.06) -> RoundResult:
    samples = [Sample(float(i), float(i) + ttft_s, float(i) + 1.3, 64, None, "miss")
               for i in range(answers)]
    samples += [Sample(0.0, None, 1.0, 0, "http-503", None) for _ in range(errors)]
    return RoundResult(tuple(samples), answers / 1.3)


def _tally(answers: int, cpu_s: dict[str, float], errors: int = 0, ttft_s: float = 0.06) -> Tally:
    tally = Tally()
    tally.add(_round(answers, errors, ttft_s), cpu_s)
    return tally


def _summary(service_cpu_s: float, upstream_cpu_s: float = 0.5, errors: int = 0,
             hit_cpu_s: float = 0.1) -> dict[str, Any]:
    """A run of 100 answers a side: the service's ratio is service_cpu_s / upstream_cpu_s; a
    cache hit costs hit_cpu_s / 100 (1 ms by default)."""
    tallies = PointTallies(
        Point(16), 16, 4.0, 2,
        misses={"direct": _tally(100, {"upstream": upstream_cpu_s, "client": 0.3}, ttft_s=0.05),
                "through": _tally(100, {"upstream": upstream_cpu_s, "client": 0.3,
                                        "server": service_cpu_s}, errors)},
        hits={"through": _tally(100, {"upstream": 0.0, "client": 0.1, "server": hit_cpu_s})},
    )
    return {"kind": "overhead", "started": "2026-12-01T19:00:00+00:00", "commit": "abc1234",
            "machine": {"cpus": 2, "cpu_model": "test"}, "config": _CONFIG.to_dict(),
            "points": [derive_point(tallies, _CONFIG)]}


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    path = tmp_path / "baseline.json"
    record = write_baseline(_summary(service_cpu_s=2.0), path)  # ratio 4.0
    assert record["cpu_ratio"] == pytest.approx(4.0)
    return path


def test_derived_figures_are_per_answer_and_against_direct() -> None:
    point = _summary(service_cpu_s=2.0)["points"][0]
    through = point["sides"]["through"]
    assert through["cpu_ms_per_answer"]["server"] == pytest.approx(20.0)
    assert through["cpu_ratio"] == pytest.approx(4.0)
    assert through["overhead_ms"]["p50"] == pytest.approx(10.0)
    assert point["hits"]["through"]["cpu_ms_per_answer"]["server"] == pytest.approx(1.0)
    # the fixed cost's gate figure: a hit's CPU over the upstream's per answer (5 ms)
    assert point["hits"]["through"]["cpu_ratio"] == pytest.approx(0.2)


def test_baseline_file_round_trips_with_how_it_was_measured(baseline: Path) -> None:
    record = read_baseline(baseline)
    assert record["point"] == "16"
    assert record["duration_s"] == 8 and record["rounds"] == 2 and record["workers"] == 1
    assert record["service_cpu_ms_per_answer"] == pytest.approx(20.0)


@pytest.mark.parametrize(("service_cpu_s", "passed"), [
    (1.0, True),  # half the CPU: an improvement passes
    (2.4, True),  # +20 %: within the tolerance
    (2.6, False),  # +30 %: over it
])
def test_gate_fails_only_when_the_ratio_rises_more_than_25_percent(
    baseline: Path, service_cpu_s: float, passed: bool
) -> None:
    result = check(_summary(service_cpu_s), read_baseline(baseline))
    assert result.passed is passed, result.message
    assert result.limit == pytest.approx(5.0)
    assert ("rose" in result.message) is not passed


def test_the_ratio_cancels_a_uniformly_slower_machine(baseline: Path) -> None:
    # Everything 40 % slower (a busier CI runner): the service's absolute CPU rose, the ratio not.
    assert check(_summary(2.8, upstream_cpu_s=0.7), read_baseline(baseline)).passed


def test_a_slow_moment_of_the_machine_in_one_round_divides_out(baseline: Path) -> None:
    # The second measured round ran while the whole machine was slow: the service and the
    # upstream it streams from both took twice the CPU. Each round's service CPU is divided by
    # the upstream's in that round, so the ratio stays the one of the quiet rounds (4.0).
    through = _tally(50, {"upstream": 0.25, "client": 0.15, "server": 1.0})
    through.add(_round(50), {"upstream": 0.5, "client": 0.3, "server": 2.0})
    direct = _tally(50, {"upstream": 0.25, "client": 0.15})
    direct.add(_round(50), {"upstream": 0.25, "client": 0.15})
    hits = {"through": _tally(100, {"upstream": 0.0, "client": 0.1, "server": 0.1})}
    tallies = PointTallies(Point(16), 16, 4.0, 2, misses={"direct": direct, "through": through},
                           hits=hits)
    point = derive_point(tallies, _CONFIG)
    side = point["sides"]["through"]
    assert side["cpu_ms_per_answer"]["server"] == pytest.approx(30.0)  # the totals still show it
    assert side["cpu_ratio"] == pytest.approx(4.0)  # summed rounds would read 6.0
    assert check({**_summary(2.0), "points": [point]}, read_baseline(baseline)).passed


def test_gate_fails_on_errors_or_a_missing_point(baseline: Path) -> None:
    with_errors = check(_summary(2.0, errors=3), read_baseline(baseline))
    assert not with_errors.passed and "3 errors" in with_errors.message
    other = json.loads(baseline.read_text()) | {"point": "64"}
    assert "no point '64'" in check(_summary(2.0), other).message


def test_a_baseline_without_a_ratio_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"point": "16"}))
    with pytest.raises(ValueError, match="cpu_ratio"):
        read_baseline(path)
    with pytest.raises(ValueError, match="errors"):
        write_baseline(_summary(2.0, errors=1), tmp_path / "other.json")


def test_reports_show_the_figures_and_need_no_network() -> None:
    summary = _summary(2.0)
    table = render_markdown(summary)
    assert "| 16 | through | 100 | 0 | 60.0 (+10.0) |" in table
    assert "| 16 | through | 100 | 3 (http-503 3) |" in render_markdown(_summary(2.0, errors=3))
    html = render_html(summary)
    assert html.count("<svg") == 2
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_millisecond_more_per_request_fails_the_gate(baseline: Path) -> None:
    # Misses cost 20 ms; one more millisecond each is +5 %, inside their tolerance. A cache
    # hit, 1 ms, doubles: the fixed cost's own gate catches what the misses' ratio cannot.
    slower = check(_summary(2.1, hit_cpu_s=0.2), read_baseline(baseline))
    assert not slower.passed
    assert slower.message.startswith("the fixed cost of a request rose +100%")
    assert slower.hit_ratio == pytest.approx(0.4) and slower.hit_limit == pytest.approx(0.27)
    # Noise of 30 % on the hits, or a machine 40 % slower all over, passes.
    assert check(_summary(2.0, hit_cpu_s=0.13), read_baseline(baseline)).passed
    assert check(_summary(2.8, upstream_cpu_s=0.7, hit_cpu_s=0.14),
                 read_baseline(baseline)).passed


def test_the_hits_gate_needs_hits_and_old_baselines_gate_misses_only(
    baseline: Path, tmp_path: Path
) -> None:
    summary = _summary(2.0)
    summary["points"][0]["hits"] = {}
    missing = check(summary, read_baseline(baseline))
    assert not missing.passed and "cache hits were not measured" in missing.message
    old = tmp_path / "old.json"
    old.write_text(json.dumps({k: v for k, v in read_baseline(baseline).items()
                               if not k.startswith("hit_")}))
    assert check(summary, read_baseline(old)).passed


def test_fixed_cost_of_a_miss_comes_from_two_answer_lengths() -> None:
    config = OverheadConfig(points=(Point(16),), duration_s=8, rounds=2, short_tokens=32)
    tallies = PointTallies(
        Point(16), 16, 4.0, 2,
        misses={"direct": _tally(100, {"upstream": 0.5, "client": 0.3}),
                "through": _tally(100, {"upstream": 0.5, "client": 0.3, "server": 2.0}),
                "through short": _tally(100, {"upstream": 0.3, "client": 0.3, "server": 1.2})},
        hits={"through": _tally(100, {"upstream": 0.0, "client": 0.1, "server": 0.1})},
    )
    point = derive_point(tallies, config)
    # 20 ms at 64 tokens, 12 ms at 32: 0.25 ms a token, 4 ms once per request.
    assert point["fixed_cost_ms"] == {"hit": 1.0, "miss": pytest.approx(4.0),
                                      "per_token": pytest.approx(0.25), "tokens": [64, 32]}
    summary = {**_summary(2.0), "config": config.to_dict(), "points": [point]}
    assert ("Fixed cost at 16 streams: cache hit 1.00 ms CPU; miss 4.00 ms CPU besides 250 µs "
            "a token (from 64- and 32-token answers).") in render_markdown(summary)
    assert "Fixed cost per request" in render_html(summary)


def test_a_hit_is_read_against_the_upstream_of_the_miss_round_beside_it(baseline: Path) -> None:
    # Hit rounds follow their side's miss rounds; in the second pair the whole machine ran
    # twice as slow. Each hit round is divided by the upstream's CPU per answer of the miss
    # round just before it, so the ratio is the quiet rounds' (1 ms over 5 ms).
    through = _tally(100, {"upstream": 0.5, "client": 0.3, "server": 2.0})
    through.add(_round(100), {"upstream": 1.0, "client": 0.6, "server": 4.0})
    hits = _tally(100, {"upstream": 0.0, "client": 0.1, "server": 0.1})
    hits.add(_round(100), {"upstream": 0.0, "client": 0.2, "server": 0.2})
    tallies = PointTallies(Point(16), 16, 4.0, 2,
                           misses={"direct": _tally(100, {"upstream": 0.5, "client": 0.3}),
                                   "through": through},
                           hits={"through": hits})
    point = derive_point(tallies, _CONFIG)
    assert point["hits"]["through"]["cpu_ratio"] == pytest.approx(0.2)
    assert check({**_summary(2.0), "points": [point]}, read_baseline(baseline)).passed
