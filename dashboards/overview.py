"""The chatperf overview dashboard: the targets first, then why they are met or missed.

Rows: Targets (stat panels coloured by ``targets.yaml``), Latency, Cache, Traffic, Traces.
Every query is built from ``otel.rules.promql`` and the names in ``otel.semconv``, so the
dashboard computes each target figure exactly as the alert rules do.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard

from dashboards.panels import (
    GRAFANA,
    PROMETHEUS,
    datasource_variables,
    pie,
    target_stat,
    time_series,
    trace_table,
    value_stat,
)
from otel import semconv
from otel.rules import promql
from otel.rules.targets import GOODPUT, Targets

__all__ = ["LOAD_RUN_TAGS", "STAT_TARGETS", "UID", "overview"]

UID = "chatperf-overview"
# Grafana has no tokens/s unit; a custom suffix unit says what the axis counts.
TOKENS_PER_SECOND = "suffix: tokens/s"
# Tags on the annotations the load runner writes (dashboards.grafana.annotate_run).
LOAD_RUN_TAGS = ("chatperf", "load-test")
# Stat panel title → (attribute of Targets it is coloured by, higher is better); the JSON tests
# check the thresholds against these.
STAT_TARGETS = {
    "Perceived response p95 (TTFT)": ("perceived_p95_seconds", False),
    "Requests with TTFT within target": ("perceived_quantile", True),
    "Cache hit rate": ("cache_hit_rate_min", True),
    "Mean full response, cache misses": ("full_response_avg_seconds_max", False),
    "Error rate": ("error_rate_max", False),
}

INSTANCE = 'instance=~"$instance"'
ROUTE = f'{semconv.LABEL_ROUTE}=~"$route"'
MISS = f'{semconv.LABEL_CACHE_HIT}="false"'
RANGE, RATE = "$__range", "$__rate_interval"
TOKEN_TYPE = promql.prom_label(semconv.GEN_AI_TOKEN_TYPE)


def _variables() -> list[dash_b.QueryVariable]:
    def variable(name: str, query: str) -> dash_b.QueryVariable:
        return (dash_b.QueryVariable(name).label(name).datasource(PROMETHEUS).query(query)
                .multi(True).include_all(True).all_value(".*")
                .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED)
                .sort(dashboard.VariableSort.ALPHABETICAL_ASC))
    return [
        variable("instance", f"label_values({semconv.PROM_REQUESTS}, instance)"),
        variable("route", f"label_values({semconv.PROM_REQUESTS}{{{INSTANCE}}}, route)"),
    ]


def _target_row(t: Targets) -> list:
    scope = [INSTANCE, ROUTE]
    ttft = t.perceived_p95_seconds
    figures = {  # title → (query, unit, what it is)
        "Perceived response p95 (TTFT)": (
            promql.quantile(t.perceived_quantile, semconv.PROM_TTFT, RANGE, by="",
                            matchers=scope),
            "s", "95th percentile of request start → first content token, all requests.",
        ),
        "Requests with TTFT within target": (
            f"1 - ({promql.slow_ttft_ratio(ttft, RANGE, by='', matchers=scope)})",
            "percentunit", f"Share of requests whose first token came within {ttft:g} s: the"
            " SLI the burn-rate alerts watch.",
        ),
        "Cache hit rate": (
            promql.hit_ratio(RANGE, by="", matchers=[INSTANCE]),
            "percentunit", "Cache hits / cache lookups (all tiers).",
        ),
        "Mean full response, cache misses": (
            promql.miss_mean_duration(RANGE, by="", matchers=scope),
            "s", "Exact mean (sum/count) of request start → done, upstream answers only.",
        ),
        "Error rate": (
            promql.error_ratio(RANGE, by="", matchers=scope),
            "percentunit", "Requests that ended in an error event / all requests.",
        ),
    }
    panels = []
    for title, (attribute, higher_is_better) in STAT_TARGETS.items():
        expr, unit, what = figures[title]
        target = getattr(t, attribute)
        panels.append(target_stat(
            title, f"{what} Target: {target:g} (from targets.yaml), over the time range.",
            expr, unit, target, higher_is_better,
        ))
    goodput = promql.goodput_rate(ttft, RANGE, by="", matchers=scope)
    panels.append(value_stat(
        "Goodput", f"{GOODPUT[0].upper()}{GOODPUT[1:]} ({ttft:g} s), over the time range.",
        goodput, "reqps",
    ))
    return panels


def _latency_row(t: Targets) -> list:
    def ttft_q(q: float, legend: str = "") -> tuple[str, str]:
        expr = promql.quantile(q, semconv.PROM_TTFT, RATE, by="", matchers=[INSTANCE, ROUTE])
        return expr, legend or f"p{round(q * 100)}"

    def client_q(q: float) -> tuple[str, str]:
        # The load client is not a service instance: only the route narrows it.
        expr = promql.quantile(q, semconv.PROM_CLIENT_TTFT, RATE, by="", matchers=[ROUTE])
        return expr, f"client p{round(q * 100)}"

    def duration_q(q: float) -> tuple[str, str]:
        expr = promql.quantile(q, semconv.PROM_RESPONSE_DURATION, RATE, by="",
                               matchers=[INSTANCE, ROUTE])
        return expr, f"p{round(q * 100)} all"

    service_miss_ttft = promql.mean(semconv.PROM_TTFT, RATE, by="", matchers=[INSTANCE, MISS])
    upstream_ttft = promql.mean(semconv.PROM_UPSTREAM_TTFT, RATE, by="",
                                matchers=[INSTANCE, f'{semconv.LABEL_ORIGIN}="request"'])
    overhead = promql.mean(semconv.PROM_TTFT_OVERHEAD, RATE, by="", matchers=[INSTANCE])
    requests = promql.sum_rate(semconv.PROM_REQUESTS, RATE, by="", matchers=[INSTANCE, ROUTE])
    # Goodput counts streams (the TTFT histogram's); set beside the streams' own rate.
    streams = promql.sum_rate(f"{semconv.PROM_TTFT}_count", RATE, by="",
                              matchers=[INSTANCE, ROUTE])
    goodput = promql.goodput_rate(t.perceived_p95_seconds, RATE, by="",
                                  matchers=[INSTANCE, ROUTE])
    return [
        time_series(
            "Time to first token percentiles",
            f"Perceived response over time; dashed line: the {t.perceived_p95_seconds:g} s p95"
            " target. Exemplars link to traces when the scrape carries them.",
            [ttft_q(q) for q in (0.5, 0.9, 0.95, 0.99)], "s",
            target=(t.perceived_p95_seconds, False), exemplars=True,
        ),
        time_series(
            "TTFT users see (load client) vs the service's",
            "p50 and p95 of the first-token time measured by the load client (sent → first"
            " token, while a load run serves chatperf_client_time_to_first_token_seconds) and"
            f" by the service; the gap is the network and the server's accept queue. Dashed"
            f" line: the {t.perceived_p95_seconds:g} s p95 target.",
            [client_q(0.5), client_q(0.95), ttft_q(0.5, "service p50"),
             ttft_q(0.95, "service p95")],
            "s", target=(t.perceived_p95_seconds, False),
        ),
        time_series(
            "Perceived in the browser: first paint vs TTFT",
            "What the chat page measured in users' browsers (send → first answer text painted,"
            " p50/p95, from its timing beacons) beside the service's own TTFT p95 of streams:"
            f" the gap is network, parsing and rendering. Dashed line: the"
            f" {t.perceived_p95_seconds:g} s perceived target. Empty while nobody uses the page.",
            [(promql.quantile(0.5, semconv.PROM_CLIENT_FIRST_PAINT, RATE, by="",
                              matchers=[INSTANCE]), "first paint p50"),
             (promql.quantile(0.95, semconv.PROM_CLIENT_FIRST_PAINT, RATE, by="",
                              matchers=[INSTANCE]), "first paint p95"),
             (promql.quantile(0.95, semconv.PROM_TTFT, RATE, by="",
                              matchers=[INSTANCE, f'{semconv.LABEL_ROUTE}="stream"']),
              "service TTFT p95 (stream)")],
            "s", target=(t.perceived_p95_seconds, False),
        ),
        time_series(
            "Full response percentiles and mean of misses",
            f"Request start → done; the mean of cache misses is the target figure (dashed line:"
            f" {t.full_response_avg_seconds_max:g} s).",
            [duration_q(0.5), duration_q(0.95),
             (promql.miss_mean_duration(RATE, by="", matchers=[INSTANCE, ROUTE]), "mean misses")],
            "s", target=(t.full_response_avg_seconds_max, False), exemplars=True,
        ),
        time_series(
            "Upstream TTFT vs service overhead",
            "Mean TTFT of cache misses as the service measured it, the upstream's own mean TTFT"
            " of the calls clients waited for (origin=request, no pre-warm), and the service"
            " overhead: per request, its TTFT minus that of the upstream call it led (cache"
            " lookup, routing, framing; never negative).",
            [(service_miss_ttft, "service TTFT (misses)"), (upstream_ttft, "upstream TTFT"),
             (overhead, "service overhead")],
            "s",
        ),
        time_series(
            "Throughput and goodput",
            f"Requests per second, streams per second, and {GOODPUT} "
            f"({t.perceived_p95_seconds:g} s): goodput equals the streams' rate when every first"
            " token came in time.",
            [(requests, "requests"), (streams, "streams"), (goodput, "goodput")], "reqps",
        ),
    ]


def _cache_row(t: Targets) -> list:
    lookup_p95 = promql.quantile(0.95, semconv.PROM_CACHE_LOOKUP_DURATION, RATE,
                                 by=semconv.LABEL_TIER, matchers=[INSTANCE])
    prewarm = promql.sum_rate(semconv.PROM_CACHE_PREWARM, RATE, by=semconv.LABEL_OUTCOME,
                              matchers=[INSTANCE])
    variants = promql.sum_rate(semconv.PROM_CACHE_VARIANTS, RATE, by=semconv.LABEL_OUTCOME,
                               matchers=[INSTANCE])
    return [
        time_series(
            "Hit rate by tier",
            f"Share of all lookups answered by each cache tier; stacked they make the hit"
            f" rate (dashed line: the {t.cache_hit_rate_min:.0%} target).",
            [(promql.hit_ratio(RATE, by="", split=semconv.LABEL_TIER, matchers=[INSTANCE]),
              f"{{{{{semconv.LABEL_TIER}}}}}")],
            "percentunit", target=(t.cache_hit_rate_min, True), stacked=True, span=6,
        ),
        time_series(
            "Cache lookup latency p95 by tier",
            "How long a lookup takes before the answer (or the upstream call) can start.",
            [(lookup_p95, f"{{{{{semconv.LABEL_TIER}}}}}")], "s", span=6,
        ),
        time_series(
            "Predictive pre-warm",
            "Follow-up answers pre-computed (made) and later served from the cache (used).",
            [(prewarm, f"{{{{{semconv.LABEL_OUTCOME}}}}}")], "ops", span=6,
        ),
        time_series(
            "Answer variants",
            "Further answers of often-hit questions generated in the background (made), and hits"
            " that served one of them rather than the first answer (served).",
            [(variants, f"{{{{{semconv.LABEL_OUTCOME}}}}}")], "ops", span=6,
        ),
    ]


def _traffic_row() -> list:
    by_route = f"{semconv.LABEL_ROUTE}, {semconv.LABEL_OUTCOME}"
    requests = promql.sum_rate(semconv.PROM_REQUESTS, RATE, by=by_route,
                               matchers=[INSTANCE, ROUTE])
    failed = [INSTANCE, ROUTE, f'{semconv.LABEL_OUTCOME}="{promql.OUTCOME_ERROR}"']
    all_by_route = promql.sum_rate(semconv.PROM_REQUESTS, RATE, by=semconv.LABEL_ROUTE,
                                   matchers=[INSTANCE, ROUTE])
    # `or ... * 0` keeps a zero line per route while nothing failed, instead of "No data".
    failed_by_route = promql.sum_rate(semconv.PROM_REQUESTS, RATE, by=semconv.LABEL_ROUTE,
                                      matchers=failed)
    errors = f"{failed_by_route} or ({all_by_route} * 0)"
    upstream_errors = promql.sum_rate(semconv.PROM_UPSTREAM_ERRORS, RATE,
                                      by=semconv.LABEL_ERROR_TYPE, matchers=[INSTANCE])
    upstream = f"{upstream_errors} or on() vector(0)"
    streams = (f"sum by ({semconv.LABEL_ROUTE}) "
               f"({semconv.PROM_ACTIVE_STREAMS}{{{INSTANCE},{ROUTE}}})")
    tokens = promql.sum_rate(f"{semconv.PROM_GENAI_TOKEN_USAGE}_sum", RATE, by=TOKEN_TYPE,
                             matchers=[INSTANCE])
    split = (f"sum by ({semconv.LABEL_MODEL_TIER}) "
             f"(increase({semconv.PROM_ROUTER_DECISIONS}{{{INSTANCE}}}[{RANGE}]))")
    return [
        time_series("Requests by route and outcome", "Chat requests per second.",
                    [(requests, "{{route}} {{outcome}}")], "reqps", stacked=True),
        time_series("Errors by route", "Failed requests per second by route, and"
                    " failed upstream calls by error type (0 when none).",
                    [(errors, "{{route}} failed"), (upstream, "upstream {{error_type}}")],
                    "reqps"),
        time_series("Active streams", "Answers being streamed right now, by route.",
                    [(streams, "{{route}}")], "short", span=8),
        time_series("Tokens per second", "Upstream tokens per second by type (input/output).",
                    [(tokens, f"{{{{{TOKEN_TYPE}}}}}")], TOKENS_PER_SECOND, span=8),
        pie("Model routing split", "Router decisions over the time range by model tier.",
            (split, f"{{{{{semconv.LABEL_MODEL_TIER}}}}}"), "short").span(8),
    ]


def _trace_row(t: Targets) -> list:
    slow = (f'{{ name = "{semconv.SPAN_FIRST_TOKEN}" && '
            f"duration > {t.perceived_p95_seconds:g}s }}")
    return [trace_table(
        "Slow first tokens", f"Requests whose first token took longer than the"
        f" {t.perceived_p95_seconds:g} s target (TraceQL, Tempo); open one to see which span"
        " took the time.", slow,
    )]


def overview(targets: Targets) -> dash_b.Dashboard:
    """The overview dashboard for ``targets``."""
    # Grafana's own entry first, as every dashboard Grafana saves has it: alert and hand-made
    # annotations of this dashboard (builtIn 1, type dashboard).
    built_in = (dash_b.AnnotationQuery().name("Annotations & Alerts").datasource(GRAFANA)
                .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)").built_in(1)
                .type("dashboard"))
    load_runs = (dash_b.AnnotationQuery().name("Load test runs").datasource(GRAFANA)
                 .enable(True).icon_color("purple")
                 .target(dash_b.AnnotationTarget().type("tags").tags(list(LOAD_RUN_TAGS))
                         .match_any(False).limit(100)))
    board = (dash_b.Dashboard("chatperf overview").uid(UID).tags(["chatperf"])
             .description("chatperf's targets (targets.yaml) and the figures behind them.")
             .refresh("10s").time("now-1h", "now").timezone("browser").editable()
             .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
             .annotation(built_in).annotation(load_runs))
    for variable in [*datasource_variables(), *_variables()]:
        board = board.with_variable(variable)
    rows = [("Targets", _target_row(targets)), ("Latency", _latency_row(targets)),
            ("Cache", _cache_row(targets)), ("Traffic", _traffic_row()),
            ("Traces", _trace_row(targets))]
    for title, panels in rows:
        board = board.with_row(dash_b.Row(title))
        for panel in panels:
            board = board.with_panel(panel)
    return board
