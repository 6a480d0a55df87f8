"""chatperf's Grafana dashboards as code, their provisioning, and a small Grafana client.

``python -m dashboards build`` writes ``dashboards/json``; ``python -m dashboards push`` uploads
the dashboards to a running Grafana; the load runner calls ``annotate_run`` to mark its runs.
"""

from __future__ import annotations

from dashboards.build import JSON_DIR, render_dashboards, write_dashboards
from dashboards.grafana_client import annotate_run, push_dashboards

__all__ = ["JSON_DIR", "annotate_run", "push_dashboards", "render_dashboards", "write_dashboards"]
