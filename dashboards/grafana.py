"""chatperf's dashboards and load runs in a running Grafana, through the ``grafana-client`` library.

``push_dashboards`` uploads the generated dashboards into a folder (for a Grafana that does not
mount ``dashboards/provisioning``); ``annotate_run`` marks a load-test run on every dashboard
that shows the load-run annotations (the overview does), and is what the load runner calls when
``GRAFANA_URL`` is set. Authentication is a service-account token (``Authorization: Bearer``).
Grafana's HTTP API itself is the library's (``grafana_client.GrafanaApi``); this module only
says what chatperf sends, and turns the library's errors into one ``GrafanaError`` that names
the call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.build import render_dashboards, with_datasources
from dashboards.overview import LOAD_RUN_TAGS

__all__ = ["DEFAULT_FOLDER", "GrafanaError", "annotate_run", "push_dashboards"]

DEFAULT_FOLDER = ("chatperf", "chatperf")  # (uid, title)
_TIMEOUT_S = 10.0
_T = TypeVar("_T")


class GrafanaError(RuntimeError):
    """Raised when Grafana refuses a call or cannot be reached; says which call and why."""


def _call(what: str, call: Callable[[], _T]) -> _T:
    try:
        return call()
    except GrafanaException as exc:
        raise GrafanaError(f"{what}: HTTP {exc.status_code}: {exc.message}") from None
    except OSError as exc:  # the connection itself (refused, reset, timed out)
        raise GrafanaError(f"{what}: {exc}") from None


@contextmanager
def _grafana(url: str, token: str) -> Iterator[GrafanaApi]:
    yield GrafanaApi.from_url(url, credential=token, timeout=_TIMEOUT_S)


def _ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    """Create the folder ``uid`` unless it exists; return its uid."""
    try:
        api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise GrafanaError(f"GET /api/folders/{uid}: HTTP {exc.status_code}") from None
        _call("POST /api/folders", lambda: api.folder.create_folder(title, uid=uid))
    return uid


def push_dashboards(url: str, token: str, folder: tuple[str, str] = DEFAULT_FOLDER,
                    datasources: dict[str, str] | None = None) -> list[str]:
    """Upload every generated dashboard into ``folder`` (uid, title); return their URLs.

    ``datasources`` (variable name → uid, e.g. ``{"datasource": "abc123"}``) presets the
    dashboards' datasource variables for a Grafana whose datasources have other uids. A
    dashboard is matched by its uid and overwritten.
    """
    urls = []
    with _grafana(url, token) as api:
        folder_uid = _ensure_folder(api, *folder)
        for path, text in render_dashboards().items():
            payload: dict[str, Any] = {
                "dashboard": {**with_datasources(json.loads(text), datasources or {}),
                              "id": None},
                "folderUid": folder_uid, "overwrite": True, "message": f"chatperf: {path.name}"}
            answer = _call("POST /api/dashboards/db",
                           lambda payload=payload: api.dashboard.update_dashboard(payload))
            urls.append(str(answer["url"]))
    return urls


def _epoch_ms(moment: float | datetime) -> int:
    seconds = moment.timestamp() if isinstance(moment, datetime) else float(moment)
    return round(seconds * 1000)


def annotate_run(
    url: str, token: str, start: float | datetime, end: float | datetime, verdict: str, text: str
) -> int:
    """Mark a load-test run from ``start`` to ``end`` (epoch seconds or aware datetimes).

    An organisation-wide region annotation tagged with ``LOAD_RUN_TAGS`` and
    ``verdict:<verdict>`` (e.g. ``verdict:pass``), so the overview dashboard shows it; returns
    the annotation id.
    """
    with _grafana(url, token) as api:
        answer = _call("POST /api/annotations", lambda: api.annotations.add_annotation(
            time_from=_epoch_ms(start), time_to=_epoch_ms(end),
            tags=[*LOAD_RUN_TAGS, f"verdict:{verdict}"], text=f"Load test {verdict}: {text}"))
    return int(answer["id"])
