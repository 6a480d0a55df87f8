"""Per-instance figures of a run through a proxy, and their totals.

With ``--instances N`` the runner reads every instance's counters directly before and after the
measured part (``service_stats.fleet_snapshot``); this derives, for ``summary.json``'s
``instances`` block, what each instance did over the run — requests answered, cache lookups and
hits, upstream calls, resident memory at the end — and the totals, which are those of the whole
fleet: the verdict is judged on the totals (the summary's usual figures), never on one instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["instance_figures"]

_MB = 1024 * 1024
_COUNTS = ("requests", "cache_lookups", "cache_hits", "upstream_calls")


def _counts(snapshot: Mapping[str, Any] | None) -> dict[str, float]:
    """The counters one instance's snapshot holds (zero for a snapshot it lacks)."""
    if not snapshot:
        return dict.fromkeys(_COUNTS, 0.0)
    upstream = (snapshot.get("metrics") or {}).get("upstream_ttft") or {}
    return {"requests": snapshot["openai"].get("requests", 0),
            "cache_lookups": snapshot["cache"].get("lookups", 0),
            "cache_hits": snapshot["cache"].get("hits", 0),
            "upstream_calls": upstream.get("count", 0)}


def _with_rate(figures: dict[str, Any]) -> dict[str, Any]:
    lookups = figures["cache_lookups"]
    figures["cache_hit_rate"] = round(figures["cache_hits"] / lookups, 4) if lookups else None
    return figures


def instance_figures(before: Mapping[str, Any] | None,
                     after: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``{"instances": [per instance], "total": {...}}`` over the run, or ``None`` for a run
    against one service (its figures are the summary's own)."""
    if not after or not after.get("instances"):
        return None
    earlier = (before or {}).get("instances") or {}
    rows: list[dict[str, Any]] = []
    for name, snapshot in after["instances"].items():
        start, end = _counts(earlier.get(name)), _counts(snapshot)
        row: dict[str, Any] = {"instance": name,
                               **{key: int(end[key] - start[key]) for key in _COUNTS}}
        rss = snapshot.get("rss_bytes") if snapshot else None
        row["rss_mb"] = round(rss / _MB, 1) if rss is not None else None
        rows.append(_with_rate(row))
    total: dict[str, Any] = {key: sum(row[key] for row in rows) for key in _COUNTS}
    memory = [row["rss_mb"] for row in rows if row["rss_mb"] is not None]
    total["rss_mb"] = round(sum(memory), 1) if len(memory) == len(rows) else None
    return {"instances": rows, "total": _with_rate(total)}
