"""Every figure of a run adds up: each case a defect a demanding user found (issue 24)."""

from __future__ import annotations

import pytest

from loadtests.baseline import settings_differ
from loadtests.report import verdict_table
from loadtests.summary import build_summary
from loadtests.thresholds import ThresholdError, parse_cli, parse_thresholds
from tests.loadtests.conftest import TARGETS, run_meta, sample


def _result(summary: dict, target: str) -> str:
    return next(t["result"] for t in summary["targets"] if t["target"] == target)


def test_a_p95_over_three_browser_answers_cannot_pass() -> None:
    """'browser first paint p95 PASS' on 3 answers: a p95's upper bound needs 59 values."""
    browsers = [{"started_epoch_s": 1001.0 + i, "ok": True, "first_paint_ms": 300.0 + i,
                 "last_paint_ms": 900.0} for i in range(3)]
    targets = {**TARGETS, "browser_first_paint_p95_seconds": 1.0}
    summary = build_summary([sample()] * 100, targets, run_meta(browsers=1),
                            browser_samples=browsers)
    assert summary["browser_first_paint_p95_s"] < 1.0
    assert _result(summary, "browser_first_paint_p95_seconds") == "inconclusive"
    assert "too few samples" in verdict_table(summary)


@pytest.mark.parametrize(("requests", "result"), [(45, "inconclusive"), (363, "pass")])
def test_no_errors_pass_the_error_target_only_over_enough_requests(requests: int,
                                                                   result: str) -> None:
    """0 errors of 45 passed a 1 % target while the bound reached 8.2 %; 363 is enough."""
    summary = build_summary([sample()] * requests, TARGETS, run_meta())
    assert summary["error_rate"] == 0
    assert _result(summary, "error_rate_max") == result


def test_a_clear_miss_fails_however_small_the_run() -> None:
    summary = build_summary([sample(ttft_ms=2400.0 + i) for i in range(30)], TARGETS, run_meta())
    assert _result(summary, "perceived_p95_seconds") == "fail"


def test_time_per_output_token_and_speed_leave_cache_hits_out() -> None:
    """Hits replay at once (itl 0.01 ms, 346,144 tok/s): mixed in, they moved the 'all' row."""
    misses = [sample(itl_ms=30.0 + i % 3) for i in range(30)]
    hits = [sample(cache="hit", tier="exact", ttft_ms=5.0, total_ms=6.0, itl_ms=0.01)] * 30
    alone = build_summary(misses, TARGETS, run_meta())
    mixed = build_summary(misses + hits, TARGETS, run_meta())
    assert mixed["tpot_mean_ms"] == alone["tpot_mean_ms"] == pytest.approx(31.0)
    for figure in ("tpot_ms", "tokens_per_s"):
        assert set(mixed["breakdown"][figure]["groups"]) == {"cache miss", "tier fast"}
    assert mixed["breakdown"]["ttft_s"]["groups"]["all"]["n"] == 60


def test_the_overhead_line_adds_up() -> None:
    """'service overhead 5.7 ms' stood beside two means 1.9 ms apart, of other requests."""
    def service(count: float, overhead: float, upstream: float) -> dict:
        return {"cache": {"lookups": 0, "hits": 0}, "openai": {"models": {}},
                "metrics": {"overhead": {"count": count, "sum": overhead},
                            "upstream_ttft": {"count": count, "sum": upstream}}}

    summary = build_summary([sample()] * 5, TARGETS, run_meta(), service(0, 0, 0),
                            service(200, 200 * 0.0057, 200 * 0.3279))
    assert summary["service_overhead_ms"] == pytest.approx(5.7)
    assert summary["service_ttft_led_mean_ms"] == pytest.approx(
        summary["upstream_ttft_mean_ms"] + summary["service_overhead_ms"])
    assert "TTFT 333.6 ms = the upstream call's 327.9 ms + 5.7 ms (means over 200 requests" in \
        verdict_table(summary)


def test_goodput_equals_the_streams_throughput_when_every_first_token_was_in_time() -> None:
    streams = [sample(started_epoch_s=1000.0 + i) for i in range(40)]
    quick = [sample(kind="quick", cache="miss", ttft_ms=None, total_ms=3.0, itl_ms=None,
                    output_tokens=0, started_epoch_s=1000.0 + i) for i in range(20)]
    summary = build_summary(streams + quick, TARGETS, run_meta())
    assert summary["throughput_rps"] > summary["stream_throughput_rps"]
    assert summary["goodput_rps"] == summary["stream_throughput_rps"]


def test_tokens_endpoints_and_their_table() -> None:
    streams = [sample(input_tokens=40, output_tokens=150, started_epoch_s=1000.0 + i)
               for i in range(10)]
    openai = [sample(kind="openai", input_tokens=30, output_tokens=100,
                     started_epoch_s=1000.0 + i) for i in range(5)]
    quick = [sample(kind="quick", ttft_ms=None, total_ms=2.0, itl_ms=None, output_tokens=0,
                    ok=False, error="HTTP 500")]
    summary = build_summary(streams + openai + quick, TARGETS, run_meta())
    assert summary["input_tokens_total"] == 550 and summary["output_tokens_total"] == 2000
    assert summary["output_tokens_per_s"] == pytest.approx(2000 / 60, abs=0.1)
    endpoints = summary["endpoints"]
    assert list(endpoints) == ["POST /api/chat/stream", "POST /v1/chat/completions",
                               "POST /api/chat/quick"]
    assert endpoints["POST /api/chat/quick"]["errors"] == 1
    assert endpoints["POST /v1/chat/completions"]["output_tokens"] == 500
    table = verdict_table(summary)
    assert "POST /v1/chat/completions  5" in table and "tokens: 550 in, 2000 out" in table


def test_a_cache_outage_is_named_in_the_verdict() -> None:
    """A Redis outage showed only as 'hit rate 0.0 %'."""
    before = {"cache": {"lookups": 0, "hits": 0, "backend_errors": 0}, "openai": {"models": {}}}
    after = {"cache": {"lookups": 120, "hits": 0, "backend_errors": 120},
             "openai": {"models": {}}}
    summary = build_summary([sample()] * 120, TARGETS, run_meta(), before, after)
    assert summary["cache_backend_errors"] == 120
    table = verdict_table(summary)
    assert "CACHE OUTAGE: 120 lookups failed in the cache backend" in table
    hit_rate = next(t for t in summary["targets"] if t["target"] == "cache_hit_rate_min")
    assert "Redis down or slow" in hit_rate["note"]


def test_a_baseline_with_other_settings_is_said_to_differ() -> None:
    now = {"run": {"users": 30, "profile": "seed", "mix": "chat", "machine": {"cpus": 2}}}
    then = {"run": {"users": 10, "profile": "seed", "mix": "chat", "machine": {"cpus": 8}}}
    assert settings_differ(now, then) == ["users 30 (baseline 10)", "cpus 2 (baseline 8)"]
    assert settings_differ(now, now) == []


def test_thresholds_on_a_row_of_the_percentile_tables() -> None:
    """k6's tags and aggregations: e.g. the misses' TTFT p99, not only whole-run figures."""
    samples = [sample(ttft_ms=300.0 + i) for i in range(50)] + [
        sample(cache="hit", tier="exact", ttft_ms=5.0, total_ms=6.0)] * 50
    thresholds = [*parse_thresholds({"ttft_s{cache:miss}": ["p(99)<0.3", "avg<0.4"]}),
                  *parse_cli(["ttft_s{cache:hit}:p(99)<0.01", "tpot_ms:med<40"])]
    summary = build_summary(samples, TARGETS, run_meta(), thresholds=thresholds)
    results = {(r["metric"], r["stat"]): r["result"] for r in summary["thresholds"]}
    assert results == {("ttft_s{cache:miss}", "p(99)"): "fail",
                       ("ttft_s{cache:miss}", "avg"): "pass",
                       ("ttft_s{cache:hit}", "p(99)"): "pass", ("tpot_ms", "med"): "pass"}
    assert summary["verdict"] == "fail"
    assert "threshold: ttft_s{cache:miss} p(99)" in verdict_table(summary)


@pytest.mark.parametrize("bad", ["ttft_s{cache:maybe}:p(99)<1", "ttft_s<1", "ttft_p99_s:p(99)<1",
                                 "ttft_s{cache:miss}:p(42)<1"])
def test_a_threshold_that_cannot_be_judged_is_refused(bad: str) -> None:
    with pytest.raises(ThresholdError):
        parse_cli([bad])


def test_abort_on_fail_is_read_as_k6_writes_it() -> None:
    (threshold,) = parse_thresholds(
        {"error_rate": [{"threshold": "<0.05", "abortOnFail": True, "delayAbortEval": "10s"}]})
    assert threshold.abort_on_fail and threshold.delay_abort_eval_s == 10
    aborted = run_meta(aborted={"threshold": "error_rate < 0.05", "measured": 0.2,
                                "after_s": 12.0, "requests": 40})
    summary = build_summary([sample()] * 100, TARGETS, aborted)
    assert summary["verdict"] == "fail"
    assert "ABORTED after 12.0 s of measuring: threshold error_rate < 0.05 crossed" in \
        verdict_table(summary)


def test_variants_show_their_share_of_hits_and_their_upstream_cost() -> None:
    def service(hits: int, served: int, made: int, wasted: int, tokens: int) -> dict:
        variants = {"made": made, "served": served, "wasted": wasted,
                    "upstream_calls": made + wasted, "upstream_tokens": {"output": tokens}}
        return {"cache": {"lookups": 2 * hits, "hits": hits, "backend_errors": 0,
                          "variants": variants}, "openai": {"models": {}}}

    summary = build_summary([sample()] * 10, TARGETS, run_meta(), service(10, 2, 1, 0, 300),
                            service(110, 27, 9, 2, 2900))
    assert summary["cache_hit_rate_service"] == 0.5  # variants change no lookup
    assert summary["cache_variant_hit_share"] == 0.25
    assert summary["cache_variant_upstream_calls"] == 10 and summary["cache_variants_made"] == 8
    assert ("cache variants: 25.0 % of hits served a further answer · 8 made by 10 extra "
            "upstream calls (2600 output tokens") in verdict_table(summary)


def test_a_service_without_variants_reports_no_variant_figures() -> None:
    before = {"cache": {"lookups": 0, "hits": 0, "backend_errors": 0}, "openai": {"models": {}}}
    after = {"cache": {"lookups": 10, "hits": 5, "backend_errors": 0}, "openai": {"models": {}}}
    summary = build_summary([sample()] * 10, TARGETS, run_meta(), before, after)
    assert summary["cache_variant_hit_share"] is None
    assert "cache variants" not in verdict_table(summary)
