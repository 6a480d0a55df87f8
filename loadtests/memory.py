"""A soak's memory figures: the growth of the service workers' RSS after the warm-up.

Derived here from the sampler's raw readings (``loadtests/runner/rss.py``) for ``summary.json``
(``rss``, ``rss_growth_pct``, the ``rss_mb`` series); kept apart from the request figures.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["rss_figures"]

_RSS_WINDOW_S = 60.0  # memory growth: median of the first minute vs the last minute
_MB = 1024 * 1024


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _index_entries(snapshot: Mapping[str, Any] | None) -> int | None:
    """Entries of the cache's semantic index, which each worker holds in its own memory."""
    return (snapshot or {}).get("cache", {}).get("semantic_index")


def rss_figures(readings: Sequence[Mapping[str, Any]] | None, start: float,
                 service_before: Mapping[str, Any] | None = None,
                 service_after: Mapping[str, Any] | None = None,
                 ) -> tuple[dict[str, Any] | None, dict[str, list[float]] | None]:
    """Memory growth after the warm-up, from the sampler's raw readings; and the series.

    Growth compares the median of the workers' summed RSS over the first minute after the
    warm-up with the median over the last minute (a quarter of the run each when it is shorter
    than four minutes): medians shrug off a single reading taken mid-allocation, which would
    tilt a least-squares line. The same two medians, over the time between the windows'
    middles, give the rate per hour, to extrapolate. Beside them: how many entries the cache's
    semantic index (kept in every worker, bounded by ``CHAT_CACHE_MAX_ENTRIES``) gained, so
    growth that follows the index can be told from growth that follows nothing.
    """
    after = [r for r in readings or () if r["epoch_s"] >= start]
    if not after:
        return None, None
    t = [r["epoch_s"] - start for r in after]
    workers = [sum(r["workers_bytes"].values()) / _MB for r in after]
    master = [r["master_bytes"] / _MB for r in after]
    window = min(_RSS_WINDOW_S, (t[-1] - t[0]) / 4)
    first = statistics.median(w for ti, w in zip(t, workers, strict=True) if ti <= t[0] + window)
    last = statistics.median(w for ti, w in zip(t, workers, strict=True) if ti >= t[-1] - window)
    before = [r for r in readings or () if r["epoch_s"] < start]
    hours = (t[-1] - t[0] - window) / 3600
    figures = {
        "method": f"workers' RSS summed; median of the first {window:.0f} s after the warm-up "
                  f"vs median of the last {window:.0f} s",
        "window_s": _round(window, 1),
        "samples": len(after),
        "first_s": _round(t[0], 1),
        "last_s": _round(t[-1], 1),
        "start_mb": _round(first, 1),
        "end_mb": _round(last, 1),
        "growth_pct": _round((last - first) / first * 100, 2) if first else None,
        "slope_mb_per_h": _round((last - first) / hours, 2) if hours > 0 else None,
        "master_start_mb": _round(master[0], 1),
        "master_end_mb": _round(master[-1], 1),
        "workers": len(after[-1]["workers_bytes"]),
        # More pids than workers: a worker was replaced, and its memory started again.
        "worker_pids_seen": len({pid for r in readings or () for pid in r["workers_bytes"]}),
        "before_warmup_mb": _round(sum(before[0]["workers_bytes"].values()) / _MB, 1)
        if before else None,
        "semantic_index_start": _index_entries(service_before),
        "semantic_index_end": _index_entries(service_after),
    }
    series = {"t_s": [_round(v, 1) for v in t], "workers": [_round(v, 2) for v in workers],
              "master": [_round(v, 2) for v in master]}
    return figures, series
