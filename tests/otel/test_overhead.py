"""Telemetry on costs little: a small off/on run, compared as ratios (never wall-clock)."""

from __future__ import annotations

from otel.overhead import measure_overhead


def test_telemetry_overhead_is_small() -> None:
    report = measure_overhead(requests=120, concurrency=4, rounds=4)
    assert report.off.requests == report.on.requests == 120
    assert len(report.off.ttfts) + len(report.on.ttfts) >= 230  # nearly all answers completed
    # Loose bounds: a shared CI machine is noisy; `python -m otel overhead` gives the figure.
    assert report.throughput_ratio > 0.6, report.render()
    assert report.ttft_ratio < 1.6, report.render()
