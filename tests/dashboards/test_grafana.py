"""Pushing dashboards and annotating runs through grafana-client, against a stand-in Grafana: a
local HTTP server that answers as Grafana does and records every call it receives."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.__main__ import main
from dashboards.build import render_dashboards
from dashboards.grafana import GrafanaError, annotate_run, push_dashboards

TOKEN = "glsa_test_token"


@dataclass
class FakeGrafana:
    """Answers the Grafana API calls the client makes; records (method, path, auth, body)."""

    existing_folders: set[str] = field(default_factory=set)
    fail_with: int | None = None
    calls: list[tuple[str, str, str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if self.fail_with:
            return self.fail_with, {"message": "denied"}
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            if uid in self.existing_folders:
                return 200, {"uid": uid}
            return 404, {"message": "folder not found"}
        if (method, path) == ("POST", "/api/folders"):
            self.existing_folders.add(body["uid"])
            return 200, {"uid": body["uid"], "title": body["title"]}
        if (method, path) == ("POST", "/api/dashboards/db"):
            uid = body["dashboard"]["uid"]
            return 200, {"status": "success", "uid": uid, "url": f"/d/{uid}/x", "version": 1}
        if (method, path) == ("POST", "/api/annotations"):
            return 200, {"id": 42, "message": "Annotation added"}
        return 404, {"message": "not found"}


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            fake.calls.append((self.command, self.path, self.headers.get("Authorization"), body))
            status, answer = fake.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def test_push_creates_folder_then_uploads_every_dashboard(grafana: FakeGrafana) -> None:
    urls = push_dashboards(grafana.url, TOKEN)
    rendered = [json.loads(text) for text in render_dashboards().values()]
    assert urls == [f"/d/{d['uid']}/x" for d in rendered]
    assert [(m, p) for m, p, _, _ in grafana.calls] == [
        ("GET", "/api/folders/chatperf"), ("POST", "/api/folders"),
        *[("POST", "/api/dashboards/db")] * len(rendered),
    ]
    assert {auth for _, _, auth, _ in grafana.calls} == {f"Bearer {TOKEN}"}
    assert grafana.calls[1][3] == {"uid": "chatperf", "title": "chatperf"}
    for (_, _, _, body), dashboard in zip(grafana.calls[2:], rendered, strict=True):
        assert body["folderUid"] == "chatperf" and body["overwrite"] is True
        assert body["dashboard"] == {**dashboard, "id": None}


def test_push_reuses_an_existing_folder(grafana: FakeGrafana) -> None:
    grafana.existing_folders.add("perf")
    push_dashboards(grafana.url, TOKEN, ("perf", "perf"))
    assert ("POST", "/api/folders") not in [(m, p) for m, p, _, _ in grafana.calls]


def test_annotate_run_marks_the_run_region(grafana: FakeGrafana) -> None:
    start = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    annotation_id = annotate_run(grafana.url, TOKEN, start, start.timestamp() + 90.5, "pass",
                                 "p95 0.8 s, hit rate 31 %")
    assert annotation_id == 42
    [(method, path, auth, body)] = grafana.calls
    assert (method, path, auth) == ("POST", "/api/annotations", f"Bearer {TOKEN}")
    assert body == {
        "panelId": None, "time": 1735787045000, "timeEnd": 1735787135500,
        "tags": ["chatperf", "load-test", "verdict:pass"],
        "text": "Load test pass: p95 0.8 s, hit rate 31 %",
    }


def test_refusal_raises_with_the_call(grafana: FakeGrafana) -> None:
    grafana.fail_with = 401
    with pytest.raises(GrafanaError, match=r"POST /api/annotations: HTTP 401"):
        annotate_run(grafana.url, TOKEN, 0, 1, "fail", "x")


def test_cli_push(grafana: FakeGrafana, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "--url", grafana.url, "--token", TOKEN]) == 0
    assert "uploaded /d/chatperf-overview/x" in capsys.readouterr().out
    grafana.fail_with = 403
    assert main(["push", "--url", grafana.url, "--token", TOKEN]) == 1
    assert "HTTP 403" in capsys.readouterr().err
