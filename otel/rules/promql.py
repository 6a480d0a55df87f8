"""PromQL fragments shared by the rules generator and the dashboards.

Both must compute a target figure the same way (which histogram bucket counts as "within target",
how a mean or a ratio is formed), so the expressions are built here once from the ``PROM_*`` names
in ``otel.semconv``. Every builder takes ``by`` (labels kept apart; ``""`` sums everything) and
``matchers`` (extra label matchers, e.g. dashboard template variables).
"""

from __future__ import annotations

from collections.abc import Sequence

from otel import semconv

__all__ = [
    "OUTCOME_ERROR",
    "OUTCOME_OK",
    "error_ratio",
    "goodput_rate",
    "hit_ratio",
    "le_matcher",
    "mean",
    "miss_mean_duration",
    "prom_label",
    "quantile",
    "selector",
    "slow_ttft_ratio",
    "sum_rate",
]

# chat.requests `outcome`: "ok" answered in full; "error" ended with an error event (a failure);
# "cancelled" the client left mid-stream; the quick route records "hit"/"miss". Only "error"
# counts against the error-rate target.
OUTCOME_OK = "ok"
OUTCOME_ERROR = "error"
_MISS = f'{semconv.LABEL_CACHE_HIT}="false"'


def prom_label(attribute: str) -> str:
    """The Prometheus label an OpenTelemetry attribute key becomes (``a.b`` → ``a_b``)."""
    return attribute.replace(".", "_")


def le_matcher(bound: float) -> str:
    """Matcher for the ``le`` bucket at ``bound``.

    The OpenTelemetry exporter writes ``le="1.0"`` while Prometheus 3 normalises it to ``"1"`` on
    scrape; the regex matches either spelling so the rules work on both.
    """
    spellings = {repr(float(bound))}
    if float(bound).is_integer():
        spellings.add(str(int(bound)))
    alternatives = "|".join(sorted(s.replace(".", "\\\\.") for s in spellings))
    return f'le=~"{alternatives}"'


def selector(metric: str, matchers: Sequence[str] = ()) -> str:
    """``metric{m1,m2}`` with empty matchers dropped."""
    inner = ",".join(m for m in matchers if m)
    return f"{metric}{{{inner}}}" if inner else metric


def sum_rate(metric: str, window: str, *, by: str = "job", matchers: Sequence[str] = ()) -> str:
    """``sum by (by) (rate(metric{matchers}[window]))``; plain ``sum`` when ``by`` is empty."""
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({selector(metric, matchers)}[{window}]))"


def quantile(
    q: float, histogram: str, window: str, *, by: str = "job", matchers: Sequence[str] = ()
) -> str:
    """``histogram_quantile`` of a histogram's buckets over ``window``."""
    group = ", ".join(filter(None, [by, "le"]))
    buckets = sum_rate(f"{histogram}_bucket", window, by=group, matchers=matchers)
    return f"histogram_quantile({q}, {buckets})"


def mean(histogram: str, window: str, *, by: str = "job", matchers: Sequence[str] = ()) -> str:
    """Exact mean of a histogram over ``window`` from ``_sum / _count``."""
    total = sum_rate(f"{histogram}_sum", window, by=by, matchers=matchers)
    return f"{total} / {sum_rate(f'{histogram}_count', window, by=by, matchers=matchers)}"


def goodput_rate(
    bound: float, window: str, *, by: str = "job", matchers: Sequence[str] = ()
) -> str:
    """Goodput (``otel.rules.targets.GOODPUT``): requests per second that saw their first token
    within ``bound`` seconds."""
    bucket = f"{semconv.PROM_TTFT}_bucket"
    return sum_rate(bucket, window, by=by, matchers=[le_matcher(bound), *matchers])


def slow_ttft_ratio(
    bound: float, window: str, *, by: str = "job", matchers: Sequence[str] = ()
) -> str:
    """Share of requests whose first token came later than ``bound`` seconds (the SLI's errors)."""
    good = goodput_rate(bound, window, by=by, matchers=matchers)
    total = sum_rate(f"{semconv.PROM_TTFT}_count", window, by=by, matchers=matchers)
    return f"1 - ({good} / {total})"


def hit_ratio(
    window: str, *, by: str = "job", split: str = "", matchers: Sequence[str] = ()
) -> str:
    """Cache hits / cache lookups; with ``split`` (e.g. the tier) the hits are broken down by it
    while the denominator stays all lookups, so the parts add up to the hit rate."""
    hit = f'{semconv.LABEL_RESULT}="hit"'
    hit_by = ", ".join(filter(None, [by, split]))
    hits = sum_rate(semconv.PROM_CACHE_LOOKUPS, window, by=hit_by, matchers=[hit, *matchers])
    lookups = sum_rate(semconv.PROM_CACHE_LOOKUPS, window, by=by, matchers=matchers)
    if split:
        return f"{hits} / ignoring ({split}) group_left {lookups}"
    return _share(hits, lookups)


def _share(part: str, whole: str) -> str:
    """``part / whole`` that reads 0, not "no data", while ``part`` has no series yet (a counter
    that was never incremented, e.g. no error so far, is absent rather than 0)."""
    return f"({part} or {whole} * 0) / {whole}"


def miss_mean_duration(window: str, *, by: str = "job", matchers: Sequence[str] = ()) -> str:
    """Mean full response of cache-miss (upstream) answers."""
    return mean(semconv.PROM_RESPONSE_DURATION, window, by=by, matchers=[_MISS, *matchers])


def error_ratio(window: str, *, by: str = "job", matchers: Sequence[str] = ()) -> str:
    """Failed requests (``outcome="error"``) / all requests."""
    failed = f'{semconv.LABEL_OUTCOME}="{OUTCOME_ERROR}"'
    errors = sum_rate(semconv.PROM_REQUESTS, window, by=by, matchers=[failed, *matchers])
    return _share(errors, sum_rate(semconv.PROM_REQUESTS, window, by=by, matchers=matchers))
