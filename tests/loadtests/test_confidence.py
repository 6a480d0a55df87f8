"""A small run that misses a target within its noise is inconclusive, not failed."""

from __future__ import annotations

import pytest

from loadtests.confidence import mean_interval, proportion_interval, quantile_interval
from loadtests.gate import exit_code
from loadtests.verdict import evaluate, overall_verdict

TARGETS = {"cache_hit_rate_min": 0.28, "perceived_p95_seconds": 1.0}


def _summary(hit_rate: float, lookups: int, ttft_p95: float = 0.5) -> dict:
    return {
        "cache_hit_rate": hit_rate,
        "cache_lookups_samples": lookups,
        "ttft_p95_s": ttft_p95,
        "intervals": {"cache_hit_rate": list(proportion_interval(hit_rate * lookups, lookups)),
                      "ttft_p95_s": [ttft_p95 * 0.9, ttft_p95 * 1.1]},
    }


def test_a_miss_within_the_noise_of_35_lookups_is_inconclusive() -> None:
    results = {t["target"]: t["result"] for t in evaluate(_summary(0.176, 35), TARGETS)}
    assert results == {"cache_hit_rate_min": "inconclusive", "perceived_p95_seconds": "pass"}


def test_the_same_rate_over_many_lookups_fails() -> None:
    results = {t["target"]: t["result"] for t in evaluate(_summary(0.176, 400), TARGETS)}
    assert results["cache_hit_rate_min"] == "fail"


def test_a_slow_run_fails_however_small() -> None:
    results = {t["target"]: t["result"] for t in evaluate(_summary(0.4, 30, 2.4), TARGETS)}
    assert results["perceived_p95_seconds"] == "fail"


def test_no_data_is_a_failure() -> None:
    assert evaluate({}, TARGETS)[0]["result"] == "fail"


@pytest.mark.parametrize(("results", "verdict"), [
    (["pass", "pass"], "pass"), (["pass", "inconclusive"], "inconclusive"),
    (["inconclusive", "fail"], "fail"),
])
def test_the_verdict_is_the_worst_result(results: list[str], verdict: str) -> None:
    assert overall_verdict([{"result": r, "passed": r == "pass"} for r in results]) == verdict


def test_inconclusive_exits_0_unless_strict() -> None:
    assert (exit_code("pass"), exit_code("inconclusive"), exit_code("fail")) == (0, 0, 1)
    assert exit_code("inconclusive", strict=True) == 1


def test_intervals_contain_their_estimate_and_narrow_with_samples() -> None:
    small, large = proportion_interval(6, 35), proportion_interval(60, 350)
    assert small[0] < 6 / 35 < small[1] and large[0] < 60 / 350 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    values = [float(v) for v in range(1, 101)]
    low, high = quantile_interval(values, 0.95)
    assert low <= 95 <= high <= 100
    mean_low, mean_high = mean_interval(values)
    assert mean_low < 50.5 < mean_high
