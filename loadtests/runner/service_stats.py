"""The service's own counters (``/api/cache/stats``, ``/api/openai/stats``, ``/metrics``), read
around a run.

The difference between a snapshot after the run and one before gives the run's hit rate, the
upstream's own TTFT of the calls clients waited for (``origin="request"``, not pre-warm) and the
service's overhead as the service measured it per request (its TTFT minus that of the upstream
call the request led: >= 0 by construction), to set beside the client-side samples.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from loadtests.processes import ProcessFailed
from otel import semconv

__all__ = ["fleet_snapshot", "histogram_totals", "merged", "not_ready_because", "snapshot",
           "wait_ready"]

ORIGIN_REQUEST = "request"  # upstream calls a client waited for (semconv.LABEL_ORIGIN)


def _read(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _get(url: str) -> Any:
    return json.loads(_read(url))


def histogram_totals(exposition: str) -> dict[str, dict[str, float] | None]:
    """``count``/``sum`` of the two histograms behind the overhead figures, summed over labels.

    ``overhead``: ``chat_time_to_first_token_overhead_seconds``; ``upstream_ttft``: the upstream
    TTFT of calls with ``origin="request"``. ``None`` for a histogram the service does not
    expose (an older service), so the summary says "no data" rather than a wrong figure.
    """
    wanted = {semconv.PROM_TTFT_OVERHEAD: ("overhead", {}),
              semconv.PROM_UPSTREAM_TTFT: ("upstream_ttft",
                                           {semconv.LABEL_ORIGIN: ORIGIN_REQUEST})}
    totals: dict[str, dict[str, float] | None] = {key: None for key, _ in wanted.values()}
    for family in text_string_to_metric_families(exposition):
        if family.name not in wanted:
            continue
        key, matchers = wanted[family.name]
        figures = totals[key] = {"count": 0.0, "sum": 0.0}
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in matchers.items()):
                continue
            if sample.name == f"{family.name}_count":
                figures["count"] += sample.value
            elif sample.name == f"{family.name}_sum":
                figures["sum"] += sample.value
    return totals


def snapshot(host: str) -> dict[str, Any] | None:
    """Both stats documents, or ``None`` when the service does not expose them (or is down).

    The cache's counters are read last, so the moment this returns is the boundary of the hit
    rate: requests started after it are looked up after the counters were read.
    """
    try:
        openai = _get(f"{host}/api/openai/stats")
        metrics = histogram_totals(_read(f"{host}/metrics").decode("utf-8"))
        return {"metrics": metrics, "openai": openai, "cache": _get(f"{host}/api/cache/stats")}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _summed(parts: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Counts under ``keys`` added up over ``parts``; mappings of counts added key by key."""
    total: dict[str, Any] = {}
    for key in keys:
        values = [part.get(key) for part in parts if part.get(key) is not None]
        if values and all(isinstance(v, Mapping) for v in values):
            merged: Counter[str] = Counter()
            for value in values:
                merged.update(value)
            total[key] = dict(merged)
        elif values:
            total[key] = sum(values)
    return total


def _histograms(parts: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float] | None]:
    totals: dict[str, dict[str, float] | None] = {}
    for key in {k for part in parts for k in part}:
        present = [part[key] for part in parts if part.get(key)]
        totals[key] = {"count": sum(h["count"] for h in present),
                       "sum": sum(h["sum"] for h in present)} if present else None
    return totals


def fleet_snapshot(hosts: Sequence[str]) -> dict[str, Any] | None:
    """``snapshot`` of one host; of several, ``merged``. ``None`` when any instance does not
    answer: totals without one would be wrong."""
    if len(hosts) == 1:
        return snapshot(hosts[0])
    each = {host.removeprefix("http://"): snapshot(host) for host in hosts}
    if any(part is None for part in each.values()):
        return None
    return merged({name: part for name, part in each.items() if part is not None})


_VARIANT_COUNTS = ("made", "served", "skipped", "wasted", "upstream_calls", "upstream_tokens")


def merged(each: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Several instances' snapshots as one: their counters summed (the figures the summary
    reads: lookups, hits, variants, upstream calls, requests, histogram counts and sums), the
    rest (pack, backend, the shared cache's entries and keys: summing would count them once
    per instance) the first's, and every instance's own under ``instances``."""
    parts = list(each.values())
    caches, openais = [p["cache"] for p in parts], [p["openai"] for p in parts]
    cache = {**caches[0], **_summed(caches, ("lookups", "hits", "misses", "hits_by_tier",
                                             "backend_errors", "prewarm"))}
    cache["hit_rate"] = round(cache["hits"] / cache["lookups"], 4) if cache["lookups"] else None
    if caches[0].get("variants") is not None:
        cache["variants"] = {**caches[0]["variants"], **_summed(
            [c["variants"] for c in caches if c.get("variants")], _VARIANT_COUNTS)}
    # Only counts add up; latency figures stay per instance (the summary takes them from the
    # client's samples and the summed histograms).
    openai = {"upstream": openais[0].get("upstream"),
              **_summed(openais, ("requests", "requests_by_outcome", "requests_by_route",
                                  "errors", "upstream_errors", "tokens"))}
    openai["error_rate"] = (round(openai["errors"] / openai["requests"], 4)
                            if openai.get("requests") else None)
    return {"metrics": _histograms([p["metrics"] for p in parts]), "openai": openai,
            "cache": cache, "instances": dict(each)}


def not_ready_because(body: bytes) -> str:
    """What a ``/readyz`` answer says is wrong: ``upstream down (connection refused)``…"""
    try:
        checks = json.loads(body).get("checks") or {}
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")
    return "; ".join(f"{name} {check.get('status')}"
                     + (f" ({check['detail']})" if check.get("detail") else "")
                     for name, check in checks.items() if check.get("status") != "ok") or "?"


def wait_ready(host: str, timeout_s: float = 30.0, give_up_after_s: float = 8.0) -> None:
    """Wait until ``/readyz`` answers 2xx; raise ``ProcessFailed`` with what it says is wrong.

    A service that answers "not ready" for ``give_up_after_s`` in a row (an upstream that is
    down, say) is given up on then, with its own reason, rather than after the whole timeout.
    """
    deadline = time.monotonic() + timeout_s
    refused_since: float | None = None
    reason = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{host}/readyz", timeout=5):
                return
        except urllib.error.HTTPError as exc:
            reason = f"/readyz {exc.code}: {not_ready_because(exc.read())}"
            refused_since = refused_since or time.monotonic()
            if time.monotonic() - refused_since >= give_up_after_s:
                break
        except (urllib.error.URLError, OSError) as exc:
            reason, refused_since = f"{host}/readyz: {getattr(exc, 'reason', exc)}", None
        time.sleep(0.25)
    raise ProcessFailed(f"the service at {host} is not ready: {reason}")
