"""The browser sessions' figures in the summary: derived from their samples, judged only when
the run had browsers, and printed beside the protocol TTFT."""

from __future__ import annotations

from typing import Any

import pytest

from loadtests.report import verdict_table
from loadtests.summary import build_summary
from tests.loadtests.conftest import TARGETS, run_meta, sample

WITH_BROWSER_TARGET = {**TARGETS, "browser_first_paint_p95_seconds": 1.0}


def browser_sample(**overrides: Any) -> dict[str, Any]:
    """One ``browser.jsonl`` record: a streamed miss the page painted."""
    record = {"session": 0, "started_epoch_s": 1010.0, "ok": True, "cache": "miss",
              "first_paint_ms": 420.0, "last_paint_ms": 5900.0, "error": None}
    record.update(overrides)
    return record


def _target(summary: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((t for t in summary["targets"] if t["target"] == key), None)


def test_first_paint_percentiles_count_only_the_measured_part() -> None:
    painted = [browser_sample(first_paint_ms=float(ms)) for ms in range(100, 1100, 10)]
    warmup = browser_sample(started_epoch_s=990.0, first_paint_ms=9000.0)
    failed = browser_sample(ok=False, first_paint_ms=None, last_paint_ms=None, error="cut")
    summary = build_summary([sample()], WITH_BROWSER_TARGET, run_meta(browsers=2),
                            browser_samples=[warmup, *painted, failed])
    assert summary["browser_answers"] == 101
    assert summary["browser_errors"] == 1
    assert summary["browser_first_paint_samples"] == 100
    assert summary["browser_first_paint_p50_s"] == pytest.approx(0.595)
    assert summary["browser_first_paint_p95_s"] == pytest.approx(1.0405)
    assert summary["browser_last_paint_mean_s"] == pytest.approx(5.9)
    low, high = summary["intervals"]["browser_first_paint_p95_s"]
    assert low < 1.0405 < high
    target = _target(summary, "browser_first_paint_p95_seconds")
    assert target is not None and target["result"] in {"fail", "inconclusive"}
    line = next(li for li in verdict_table(summary).splitlines() if "browser first paint p50" in li)
    assert "p50 0.595 s" in line and "p95 1.040 s" in line and "2 browsers" in line


def test_a_run_without_browsers_does_not_judge_the_browser_target() -> None:
    summary = build_summary([sample()], WITH_BROWSER_TARGET, run_meta(browsers=0))
    assert _target(summary, "browser_first_paint_p95_seconds") is None
    without = build_summary([sample()], TARGETS, run_meta(browsers=0))
    assert summary["targets"] == without["targets"]
    assert summary["verdict"] == without["verdict"]
    assert "browser first paint" not in verdict_table(summary)


def test_a_run_with_browsers_that_painted_nothing_fails_the_target() -> None:
    summary = build_summary([sample()], WITH_BROWSER_TARGET, run_meta(browsers=2),
                            browser_samples=[browser_sample(ok=False, first_paint_ms=None,
                                                            last_paint_ms=None, error="x")])
    assert _target(summary, "browser_first_paint_p95_seconds")["result"] == "fail"
    assert summary["verdict"] == "fail"
