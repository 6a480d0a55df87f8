"""Render the dashboards to the JSON that Grafana provisions from ``dashboards/json``.

The JSON is generated, committed and checked: ``python -m dashboards build --check`` (and the
tests) fail when a committed file differs from what the code and ``targets.yaml`` produce.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import overview
from dashboards.panels import DATASOURCE_VARIABLES
from otel.rules.targets import Targets, load_targets

__all__ = ["DASHBOARDS", "GRAFANA_VERSION", "JSON_DIR", "dashboard_json", "for_export",
           "render_dashboards", "with_datasources", "write_dashboards"]

JSON_DIR = Path(__file__).resolve().parent / "json"
# The Grafana the dashboards are built for: the SDK's major.minor (pyproject.toml) and the image
# of docker-compose.yml; each dashboard's ``__requires`` names it, as Grafana's export does.
GRAFANA_VERSION = "11.6.0"
# File stem (also the dashboard uid) → builder.
DASHBOARDS: dict[str, Callable[[Targets], dash_b.Dashboard]] = {
    overview.UID: overview.overview,
}


def dashboard_json(builder: dash_b.Dashboard) -> dict[str, Any]:
    """The dashboard model as plain JSON data, panels numbered 1… in layout order, with the
    Grafana version, panel types and datasources it needs (``__requires``)."""
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
    data = json.loads(json.dumps(model, cls=JSONEncoder))
    data["__requires"] = _requires(data)
    return data


def _requires(data: dict[str, Any]) -> list[dict[str, str]]:
    panels = sorted({p["type"] for p in data.get("panels", []) if p.get("type") != "row"})
    return [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
            *({"type": "panel", "id": kind, "name": kind, "version": ""} for kind in panels),
            *({"type": "datasource", "id": kind, "name": kind.capitalize(), "version": ""}
              for kind, _uid in DATASOURCE_VARIABLES.values())]


def render_dashboards(targets: Targets | None = None) -> dict[Path, str]:
    """Every dashboard's file path and text for ``targets`` (default: ``targets.yaml``)."""
    targets = targets or load_targets()
    return {
        JSON_DIR / f"{uid}.json":
            json.dumps(dashboard_json(build(targets)), indent=2, sort_keys=True,
                       ensure_ascii=False) + "\n"
        for uid, build in DASHBOARDS.items()
    }


def write_dashboards(check: bool = False) -> list[Path]:
    """Write the JSON files that differ from the rendering; return them (``check``: only list)."""
    stale = [path for path, text in render_dashboards().items()
             if not path.exists() or path.read_text() != text]
    if not check:
        for path, text in render_dashboards().items():
            if path in stale:
                path.write_text(text)
    return stale


def with_datasources(model: dict[str, Any], uids: dict[str, str]) -> dict[str, Any]:
    """``model`` with its datasource variables preset to ``uids`` (variable name → uid)."""
    unknown = sorted(set(uids) - set(DATASOURCE_VARIABLES))
    if unknown:
        raise ValueError(f"no datasource variable {', '.join(unknown)}; the dashboards have "
                         f"{', '.join(DATASOURCE_VARIABLES)}")
    copy = json.loads(json.dumps(model))
    for variable in copy.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource" and variable["name"] in uids:
            uid = uids[variable["name"]]
            variable["current"] = {"text": uid, "value": uid}
    return copy


def for_export(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` in Grafana's export format: ``__inputs`` ask for each datasource on import.

    Importing the file in any Grafana (Dashboards → New → Import) shows one picker per
    datasource; the chosen uids replace the ``${DS_…}`` placeholders the variables start from.
    """
    inputs = {name: f"DS_{name.upper()}" for name in DATASOURCE_VARIABLES}
    exported = with_datasources(model, {name: f"${{{key}}}" for name, key in inputs.items()})
    exported["__inputs"] = [
        {"name": key, "label": f"{kind.capitalize()}", "description": f"the {kind} datasource",
         "type": "datasource", "pluginId": kind, "pluginName": kind.capitalize()}
        for name, key in inputs.items() for kind in [DATASOURCE_VARIABLES[name][0]]]
    exported.pop("id", None)
    return exported
