"""Small factories over grafana-foundation-sdk that give chatperf's panels one look.

Every panel gets the datasource it queries (the JSON tests require one on each), stat panels
are coloured by a target from ``targets.yaml``, and time series can draw that target as a line.
Panels name their datasources through the dashboard's variables ``${datasource}`` and
``${tempo}``, not by uid, so the same dashboard works on any Grafana: the variables default to
the datasources ``dashboards/provisioning/datasources`` provisions and list every other one of
the type.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import piechart, stat, table, tempo, timeseries
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.models import common, dashboard
from grafana_foundation_sdk.models import tempo as tempo_m

__all__ = [
    "DATASOURCE_VARIABLES",
    "GRAFANA",
    "PROMETHEUS",
    "TEMPO",
    "Query",
    "pie",
    "target_stat",
    "thresholds",
    "time_series",
    "trace_table",
    "value_stat",
]

# Dashboard variable name → (datasource type, uid provisioned by dashboards/provisioning).
DATASOURCE_VARIABLES = {"datasource": ("prometheus", "chatperf-prometheus"),
                        "tempo": ("tempo", "chatperf-tempo")}
PROMETHEUS = dashboard.DataSourceRef(type_val="prometheus", uid="${datasource}")
TEMPO = dashboard.DataSourceRef(type_val="tempo", uid="${tempo}")
GRAFANA = dashboard.DataSourceRef(type_val="grafana", uid="-- Grafana --")

# (PromQL, legend) — legend "" lets Grafana name the series from its labels.
Query = tuple[str, str]
_GOOD, _BAD = "green", "red"


def datasource_variables() -> list[dash_b.DatasourceVariable]:
    """The dashboard's datasource pickers, preset to the provisioned datasources."""
    return [dash_b.DatasourceVariable(name).label(f"{kind.capitalize()} datasource").type(kind)
            .current(dashboard.VariableOption(text=uid, value=uid))
            for name, (kind, uid) in DATASOURCE_VARIABLES.items()]


def thresholds(target: float, higher_is_better: bool) -> dash_b.ThresholdsConfig:
    """Two colours split at ``target``: the good side green, the other red."""
    below, above = (_BAD, _GOOD) if higher_is_better else (_GOOD, _BAD)
    return dash_b.ThresholdsConfig().mode(dashboard.ThresholdsMode.ABSOLUTE).steps([
        dashboard.Threshold(value=None, color=below),
        dashboard.Threshold(value=target, color=above),
    ])


def _prom(expr: str, legend: str, ref: int, instant: bool, exemplar: bool) -> prom_b.Dataquery:
    query = (prom_b.Dataquery().expr(expr).ref_id(chr(ord("A") + ref)).datasource(PROMETHEUS)
             .legend_format(legend or "__auto"))
    query = query.instant() if instant else query.range()
    return query.exemplar(exemplar)


def value_stat(title: str, description: str, query: str, unit: str) -> stat.Panel:
    """A big number over the dashboard's time range (one colour: no target applies)."""
    return (stat.Panel().title(title).description(description).datasource(PROMETHEUS)
            .with_target(_prom(query, title, 0, instant=True, exemplar=False))
            .unit(unit).decimals(2)
            .color_scheme(dash_b.FieldColor().mode(dashboard.FieldColorModeId.FIXED)
                          .fixed_color("blue"))
            .color_mode(common.BigValueColorMode.BACKGROUND)
            .graph_mode(common.BigValueGraphMode.NONE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .span(4).height(5))


def target_stat(
    title: str, description: str, query: str, unit: str, target: float, higher_is_better: bool,
) -> stat.Panel:
    """A big number over the dashboard's time range, green when it meets ``target``."""
    return (value_stat(title, description, query, unit)
            .color_scheme(dash_b.FieldColor().mode(dashboard.FieldColorModeId.THRESHOLDS))
            .thresholds(thresholds(target, higher_is_better)))


def time_series(
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    target: tuple[float, bool] | None = None,
    stacked: bool = False,
    exemplars: bool = False,
    span: int = 12,
) -> timeseries.Panel:
    """Lines over time; ``target`` = (value, higher_is_better) draws the target as a line."""
    panel = (timeseries.Panel().title(title).description(description).datasource(PROMETHEUS)
             .unit(unit).span(span).height(8).fill_opacity(10).line_width(1)
             .legend(common_b.VizLegendOptions().show_legend(True)
                     .display_mode(common.LegendDisplayMode.TABLE)
                     .placement(common.LegendPlacement.BOTTOM).calcs(["mean", "max"])))
    for ref, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_prom(expr, legend, ref, instant=False, exemplar=exemplars))
    if target is not None:
        value, higher_is_better = target
        panel = (panel.thresholds(thresholds(value, higher_is_better))
                 .thresholds_style(common_b.GraphThresholdsStyleConfig()
                                   .mode(common.GraphThresholdsStyleMode.DASHED)))
    if stacked:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def pie(title: str, description: str, query: Query, unit: str) -> piechart.Panel:
    """Shares of a whole over the dashboard's time range."""
    expr, legend = query
    return (piechart.Panel().title(title).description(description).datasource(PROMETHEUS)
            .with_target(_prom(expr, legend, 0, instant=True, exemplar=False))
            .unit(unit).span(12).height(8)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"])))


def trace_table(title: str, description: str, traceql: str, limit: int = 20) -> table.Panel:
    """Traces from Tempo matching a TraceQL query, newest first, each linking to its trace."""
    query = (tempo.TempoQuery().ref_id("A").datasource(TEMPO).query_type("traceql")
             .query(traceql).limit(limit).table_type(tempo_m.SearchTableType.TRACES))
    return (table.Panel().title(title).description(description).datasource(TEMPO)
            .with_target(query).span(24).height(8))
