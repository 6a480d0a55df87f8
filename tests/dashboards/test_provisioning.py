"""Grafana provisioning files: laid out as a stock Grafana expects, in step with the dashboards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from dashboards.build import JSON_DIR
from dashboards.panels import DATASOURCE_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "dashboards" / "provisioning"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _datasources() -> dict[str, dict[str, Any]]:
    files = sorted((PROVISIONING / "datasources").glob("*.yaml"))
    sources = [d for f in files for d in yaml.safe_load(f.read_text())["datasources"]]
    return {d["uid"]: d for d in sources}


def _grafana_mounts() -> dict[str, str]:
    """Container path → repo path of Grafana's bind mounts."""
    mounts = {}
    for volume in COMPOSE["services"]["grafana"]["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


def _datasource_refs(node: Any) -> list[dict[str, str]]:
    """Every ``datasource`` object anywhere in a dashboard."""
    if isinstance(node, dict):
        found = [node["datasource"]] if isinstance(node.get("datasource"), dict) else []
        return found + [ref for value in node.values() for ref in _datasource_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _datasource_refs(item)]
    return []


def _container_ports(service: dict[str, Any]) -> set[str]:
    published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
    return {*published, *map(str, service.get("expose", []))}


def test_layout_is_what_grafana_reads() -> None:
    assert _grafana_mounts()["/etc/grafana/provisioning"] == "dashboards/provisioning"
    for kind in ("datasources", "dashboards"):
        files = list((PROVISIONING / kind).glob("*.yaml"))
        assert files and all(yaml.safe_load(f.read_text())["apiVersion"] == 1 for f in files)


def test_dashboards_reach_datasources_through_variables_preset_to_the_provisioned_ones() -> None:
    sources = _datasources()
    used = {ds["uid"] for path in JSON_DIR.glob("*.json")
            for ds in _datasource_refs(json.loads(path.read_text()))}
    # No panel names a uid: only the variables (any Grafana) and Grafana's own annotations.
    assert used == {"${datasource}", "${tempo}", "-- Grafana --"}
    for path in JSON_DIR.glob("*.json"):
        variables = {v["name"]: v for v in json.loads(path.read_text())["templating"]["list"]}
        for name, (kind, uid) in DATASOURCE_VARIABLES.items():
            assert variables[name]["type"] == "datasource" and variables[name]["query"] == kind
            assert variables[name]["current"]["value"] == uid
            assert sources[uid]["type"] == kind
    prometheus_uid, tempo_uid = (DATASOURCE_VARIABLES[n][1] for n in ("datasource", "tempo"))
    exemplar = sources[prometheus_uid]["jsonData"]["exemplarTraceIdDestinations"]
    assert [d["datasourceUid"] for d in exemplar] == [tempo_uid]


def test_datasource_urls_are_compose_services() -> None:
    services = COMPOSE["services"]
    for source in _datasources().values():
        host, port = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", source["url"]).groups()
        assert host in services, source["url"]
        assert port in _container_ports(services[host]), source["url"]


def test_time_interval_matches_scrape_interval() -> None:
    prometheus = yaml.safe_load((ROOT / "otel" / "prometheus.yml").read_text())
    assert (_datasources()[DATASOURCE_VARIABLES["datasource"][1]]["jsonData"]["timeInterval"]
            == prometheus["global"]["scrape_interval"])


def test_dashboard_provider_path_is_the_mounted_json() -> None:
    [provider_file] = (PROVISIONING / "dashboards").glob("*.yaml")
    [provider] = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["type"] == "file"
    mounted = _grafana_mounts()[provider["options"]["path"]]
    assert ROOT / mounted == JSON_DIR
    environment = COMPOSE["services"]["grafana"]["environment"]
    home = environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (JSON_DIR / Path(home).name).exists() and home.startswith(provider["options"]["path"])
