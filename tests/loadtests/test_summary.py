"""Derived figures: percentiles over all samples, hit rate from both sides, goodput, verdict."""

from __future__ import annotations

import pytest

from loadtests.summary import build_summary, evaluate, load_targets, percentile
from tests.loadtests.conftest import TARGETS, run_meta, sample


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.5) is None


def test_percentiles_come_from_every_sample_not_averages() -> None:
    fast = [sample(ttft_ms=100.0, started_epoch_s=1000.0 + i) for i in range(90)]
    slow = [sample(ttft_ms=2000.0, started_epoch_s=1030.0 + i) for i in range(10)]
    summary = build_summary(fast + slow, TARGETS, run_meta())
    assert summary["ttft_p50_s"] == pytest.approx(0.1)
    assert summary["ttft_p95_s"] == pytest.approx(2.0)
    assert summary["targets"][0]["passed"] is False
    assert summary["verdict"] == "fail"


def test_full_response_mean_counts_only_answered_misses() -> None:
    samples = [sample(total_ms=6000.0), sample(total_ms=4000.0),
               sample(cache="hit", tier="exact", ttft_ms=5.0, total_ms=50.0),
               sample(ok=False, error="HTTP 500", total_ms=10.0)]
    summary = build_summary(samples, TARGETS, run_meta())
    assert summary["full_response_avg_s"] == pytest.approx(5.0)
    assert summary["full_response_samples"] == 2
    assert summary["error_rate"] == pytest.approx(0.25)


def test_hit_rate_prefers_the_service_delta_and_checks_agreement() -> None:
    samples = [sample(cache="hit", tier="exact")] * 3 + [sample()] * 7
    before = {"cache": {"lookups": 100, "hits": 50, "hits_by_tier": {"exact": 50}},
              "openai": {"models": {}}}
    after = {"cache": {"lookups": 110, "hits": 53, "hits_by_tier": {"exact": 53}},
             "openai": {"models": {}}}
    summary = build_summary(samples, TARGETS, run_meta(), before, after)
    assert summary["cache_hit_rate_service"] == pytest.approx(0.3)
    assert summary["cache_hit_rate_samples"] == pytest.approx(0.3)
    assert summary["cache_hit_rate"] == pytest.approx(0.3)
    assert summary["cache_hit_rate_agree"] is True
    assert summary["cache_hits_by_tier_service"] == {"exact": 3}


def test_service_overhead_is_service_ttft_minus_upstream_ttft_over_the_run() -> None:
    def stats(count: int, service_mean: float, upstream_mean: float) -> dict:
        model = {"ttft_s": {"count": count, "mean": service_mean},
                 "upstream_ttft_s": {"count": count, "mean": upstream_mean}}
        return {"cache": {"lookups": 0, "hits": 0}, "openai": {"models": {"m": model}}}

    summary = build_summary([sample()], TARGETS, run_meta(),
                            stats(10, 0.5, 0.4), stats(20, 0.45, 0.34))
    # run only: service (20*0.45 - 10*0.5)/10 = 0.4 s, upstream (6.8 - 4)/10 = 0.28 s
    assert summary["service_ttft_mean_ms"] == pytest.approx(400.0)
    assert summary["upstream_ttft_mean_ms"] == pytest.approx(280.0)
    assert summary["service_overhead_ms"] == pytest.approx(120.0)


def test_goodput_is_the_share_meeting_every_per_request_target() -> None:
    samples = [sample(), sample(ttft_ms=1500.0), sample(total_ms=7000.0),
               sample(cache="hit", tier="exact", total_ms=9000.0, ttft_ms=10.0),
               sample(ok=False, error="boom"), sample(kind="quick", ttft_ms=None)]
    summary = build_summary(samples, TARGETS, run_meta())
    assert summary["goodput"] == pytest.approx(3 / 6)


def test_no_data_fails_a_target_instead_of_passing_it() -> None:
    results = evaluate({"ttft_p95_s": None}, {"perceived_p95_seconds": 1.0})
    assert results[0]["passed"] is False


def test_targets_file_rejects_unknown_keys(tmp_path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("perceived_p95_seconds: 1.0\nlatency_typo: 3\n")
    with pytest.raises(ValueError, match="latency_typo"):
        load_targets(path)


def test_series_cover_the_run_with_bounded_points() -> None:
    samples = [sample(started_epoch_s=1000.0 + i * 0.5) for i in range(120)]
    series = build_summary(samples, TARGETS, run_meta())["series"]
    assert len(series["t_s"]) <= 40
    assert sum(r * series["bucket_s"] for r in series["requests_per_s"]) == pytest.approx(120)
