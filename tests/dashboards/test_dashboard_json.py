"""The generated dashboard JSON: current, well-formed, and coloured by targets.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import dashboards.build
from dashboards.__main__ import main
from dashboards.build import (
    GRAFANA_VERSION,
    JSON_DIR,
    for_export,
    render_dashboards,
    with_datasources,
)
from dashboards.overview import STAT_TARGETS, UID
from dashboards.panels import PROMETHEUS, TEMPO
from otel import semconv
from otel.rules import load_targets

TARGETS = load_targets()


ROOT = Path(__file__).resolve().parents[2]


def _overview() -> dict[str, Any]:
    return json.loads((JSON_DIR / f"{UID}.json").read_text())


def _panels() -> list[dict[str, Any]]:
    return [p for p in _overview()["panels"] if p["type"] != "row"]


def test_committed_json_is_current() -> None:
    rendered = render_dashboards()
    assert sorted(JSON_DIR.glob("*.json")) == sorted(rendered)
    for path, text in rendered.items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m dashboards build"


def test_build_check_fails_on_stale_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboards.build, "JSON_DIR", tmp_path)
    assert main(["build", "--check"]) == 1
    assert main(["build"]) == 0
    assert main(["build", "--check"]) == 0
    assert json.loads((tmp_path / f"{UID}.json").read_text())["uid"] == UID


def test_panel_ids_unique_and_layout_fits() -> None:
    panels = _overview()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24 and pos["h"] > 0


def test_every_panel_and_query_has_a_provisioned_datasource() -> None:
    known = {(PROMETHEUS.type_val, PROMETHEUS.uid), (TEMPO.type_val, TEMPO.uid)}
    for panel in _panels():
        assert (panel["datasource"]["type"], panel["datasource"]["uid"]) in known, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert target["refId"]


def test_stat_thresholds_equal_targets() -> None:
    stats = {p["title"]: p for p in _panels() if p["type"] == "stat"}
    assert set(STAT_TARGETS) <= set(stats)
    for title, (attribute, higher_is_better) in STAT_TARGETS.items():
        steps = stats[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [s["value"] for s in steps] == [None, getattr(TARGETS, attribute)], title
        good = steps[1]["color"] if higher_is_better else steps[0]["color"]
        assert good == "green", title
    # The three figures the product brief names, against targets.yaml read directly.
    expected = {"Perceived response p95 (TTFT)": TARGETS.perceived_p95_seconds,
                "Cache hit rate": TARGETS.cache_hit_rate_min,
                "Mean full response, cache misses": TARGETS.full_response_avg_seconds_max}
    for title, value in expected.items():
        assert stats[title]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == value


def test_target_lines_on_time_series() -> None:
    lines = {
        p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"]
        for p in _panels()
        if p["type"] == "timeseries"
        and p["fieldConfig"]["defaults"].get("custom", {}).get("thresholdsStyle")
    }
    assert lines == {
        "Time to first token percentiles": TARGETS.perceived_p95_seconds,
        "TTFT users see (load client) vs the service's": TARGETS.perceived_p95_seconds,
        "Perceived in the browser: first paint vs TTFT": TARGETS.perceived_p95_seconds,
        "Full response percentiles and mean of misses": TARGETS.full_response_avg_seconds_max,
        "Hit rate by tier": TARGETS.cache_hit_rate_min,
    }


def test_queries_use_known_metrics_and_the_instance_variable() -> None:
    known = {getattr(semconv, n) for n in dir(semconv) if n.startswith("PROM_")}
    for panel in _panels():
        for target in panel["targets"]:
            if panel["datasource"]["uid"] != PROMETHEUS.uid:
                continue
            names = set(re.findall(r"([a-z_:]+)(?:_bucket|_sum|_count)?\{", target["expr"]))
            base = {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}
            assert base and base <= known, (panel["title"], base - known)
            # The load client is not a service instance; every service query is narrowed.
            if base != {semconv.PROM_CLIENT_TTFT}:
                assert '$instance' in target["expr"], panel["title"]


def test_variables_and_load_run_annotations() -> None:
    board = _overview()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"datasource", "tempo", "instance", "route"}
    filters = [variables["instance"], variables["route"]]
    assert all(v["includeAll"] and v["allValue"] == ".*" for v in filters)
    assert all(v["datasource"]["uid"] == "${datasource}" for v in filters)
    tags = [a["target"]["tags"] for a in board["annotations"]["list"] if "target" in a]
    assert ["chatperf", "load-test"] in tags


def test_latency_panels_ask_for_exemplars_and_traces_are_linked() -> None:
    panels = {p["title"]: p for p in _panels()}
    ttft = panels["Time to first token percentiles"]
    assert all(t["exemplar"] for t in ttft["targets"])
    traces = panels["Slow first tokens"]
    assert traces["datasource"]["uid"] == TEMPO.uid
    assert semconv.SPAN_FIRST_TOKEN in traces["targets"][0]["query"]
    assert f"duration > {TARGETS.perceived_p95_seconds:g}s" in traces["targets"][0]["query"]


def test_export_asks_for_each_datasource_on_import() -> None:
    exported = for_export(_overview())
    inputs = {i["name"]: i for i in exported["__inputs"]}
    assert {k: v["pluginId"] for k, v in inputs.items()} == {
        "DS_DATASOURCE": "prometheus", "DS_TEMPO": "tempo"}
    text = json.dumps(exported)
    assert "chatperf-prometheus" not in text and "chatperf-tempo" not in text
    variables = {v["name"]: v for v in exported["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == "${DS_DATASOURCE}"


def test_push_can_preset_the_datasources_of_another_grafana() -> None:
    model = with_datasources(_overview(), {"datasource": "abc123"})
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["datasource"]["current"]["value"] == "abc123"
    assert variables["tempo"]["current"]["value"] == "chatperf-tempo"
    with pytest.raises(ValueError, match="datasource, tempo"):
        with_datasources(_overview(), {"loki": "x"})


def test_the_dashboard_says_what_it_needs_as_grafana_exports_do() -> None:
    """`__requires` with the Grafana version, the built-in annotations entry first, units."""
    board = _overview()
    requires = {(r["type"], r["id"]): r["version"] for r in board["__requires"]}
    image = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert requires[("grafana", "grafana")] == GRAFANA_VERSION == image["image"].rsplit(":", 1)[1]
    used = {p["type"] for p in _panels() if p["type"] != "row"}
    assert {id_ for kind, id_ in requires if kind == "panel"} == used
    assert {("datasource", "prometheus"), ("datasource", "tempo")} <= set(requires)
    first = board["annotations"]["list"][0]
    assert (first["builtIn"], first["type"], first["name"]) == (1, "dashboard",
                                                              "Annotations & Alerts")
    tokens = next(p for p in _panels() if p["title"] == "Tokens per second")
    assert tokens["fieldConfig"]["defaults"]["unit"] == "suffix: tokens/s"
