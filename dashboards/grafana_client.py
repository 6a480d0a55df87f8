"""A small client for the parts of Grafana's HTTP API chatperf uses.

``push_dashboards`` uploads the generated dashboards into a folder (for a Grafana that does not
mount ``dashboards/provisioning``); ``annotate_run`` marks a load-test run on every dashboard
that shows the load-run annotations (the overview does), and is what the load runner calls when
``GRAFANA_URL`` is set. Authentication is a service-account token (``Authorization: Bearer``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import httpx

from dashboards.build import render_dashboards, with_datasources
from dashboards.overview import LOAD_RUN_TAGS

__all__ = ["DEFAULT_FOLDER", "GrafanaClient", "GrafanaError", "annotate_run", "push_dashboards"]

DEFAULT_FOLDER = ("chatperf", "chatperf")  # (uid, title)


class GrafanaError(RuntimeError):
    """Raised when Grafana answers with an unexpected status; says which call and why."""


class GrafanaClient:
    """Calls against one Grafana at ``url`` with ``token``."""

    def __init__(self, url: str, token: str, timeout_seconds: float = 10.0) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout_seconds,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GrafanaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, ok: tuple[int, ...] = (200,),
              body: dict[str, Any] | None = None) -> httpx.Response:
        response = self._http.request(method, path, json=body)
        if response.status_code not in ok:
            raise GrafanaError(f"{method} {path}: HTTP {response.status_code}: {response.text}")
        return response

    def ensure_folder(self, uid: str, title: str) -> str:
        """Create the folder ``uid`` unless it exists; return its uid."""
        if self._call("GET", f"/api/folders/{uid}", ok=(200, 404)).status_code == 404:
            self._call("POST", "/api/folders", body={"uid": uid, "title": title})
        return uid

    def upload_dashboard(self, dashboard: dict[str, Any], folder_uid: str, message: str) -> str:
        """Create or overwrite ``dashboard`` (matched by its uid) in the folder; return its URL."""
        payload = {"dashboard": {**dashboard, "id": None}, "folderUid": folder_uid,
                   "overwrite": True, "message": message}
        return str(self._call("POST", "/api/dashboards/db", body=payload).json()["url"])

    def annotate(self, start_ms: int, end_ms: int, tags: list[str], text: str) -> int:
        """An organisation-wide region annotation; return its id."""
        body = {"time": start_ms, "timeEnd": end_ms, "tags": tags, "text": text}
        return int(self._call("POST", "/api/annotations", body=body).json()["id"])


def push_dashboards(url: str, token: str, folder: tuple[str, str] = DEFAULT_FOLDER,
                    datasources: dict[str, str] | None = None) -> list[str]:
    """Upload every generated dashboard into ``folder`` (uid, title); return their URLs.

    ``datasources`` (variable name → uid, e.g. ``{"datasource": "abc123"}``) presets the
    dashboards' datasource variables for a Grafana whose datasources have other uids.
    """
    with GrafanaClient(url, token) as client:
        folder_uid = client.ensure_folder(*folder)
        return [
            client.upload_dashboard(with_datasources(json.loads(text), datasources or {}),
                                    folder_uid, f"chatperf: {path.name}")
            for path, text in render_dashboards().items()
        ]


def _epoch_ms(moment: float | datetime) -> int:
    seconds = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return round(seconds * 1000)


def annotate_run(
    url: str, token: str, start: float | datetime, end: float | datetime, verdict: str, text: str
) -> int:
    """Mark a load-test run from ``start`` to ``end`` (epoch seconds or aware datetimes).

    Tagged with ``LOAD_RUN_TAGS`` and ``verdict:<verdict>`` (e.g. ``verdict:pass``) so the
    overview dashboard shows it; returns the annotation id.
    """
    tags = [*LOAD_RUN_TAGS, f"verdict:{verdict}"]
    with GrafanaClient(url, token) as client:
        return client.annotate(_epoch_ms(start), _epoch_ms(end), tags,
                               f"Load test {verdict}: {text}")
