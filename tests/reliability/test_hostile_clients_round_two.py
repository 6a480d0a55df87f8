"""Issue 21, item 7: the smaller findings of the second probe, each against real processes.

Page files without their security headers, redirects whose ``Location`` comes from the client's
``Host``, a beacon cap that chunked framing bypassed, malformed framing answered with a 500 and a
traceback, a 408 that said keep-alive, a readiness that called a refusing upstream "ready", a
shared gunicorn control socket, and a server path in the unauthenticated stats.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
import pytest

from loadtests.processes import LOOPBACK, ManagedProcess

pytestmark = pytest.mark.integration


def _raw(service: ManagedProcess, data: bytes, timeout: float = 5) -> bytes:
    """Send ``data`` on a new connection and read until the service closes it (or falls
    silent for ``timeout``)."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout) as sock:
        sock.sendall(data)
        seen = b""
        try:
            while chunk := sock.recv(65536):
                seen += chunk
        except TimeoutError:
            seen += b"<still open>"
    return seen


def _headers(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head)}


@pytest.mark.parametrize("path", ["/", "/ui/index.html", "/ui/app.js", "/api/cache/stats",
                                  "/openapi.json", "/nope"])
def test_every_response_carries_the_security_headers(
    chat_service: ManagedProcess, path: str
) -> None:
    response = httpx.get(f"{chat_service.url}{path}")
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if response.headers["content-type"].startswith("text/html"):
        assert "script-src 'self'" in csp and "default-src 'self'" in csp
    else:
        assert "default-src 'none'" in csp


@pytest.mark.parametrize("path", ["/api//cache/stats", "/ui//app.js", "/v1//models", "//",
                                  "//healthz", "/api/cache/stats/"])
def test_no_redirect_takes_its_location_from_the_client(
    chat_service: ManagedProcess, path: str
) -> None:
    raw = _raw(chat_service, f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n"
                             "Connection: close\r\n\r\n".encode())
    status = int(raw.split(b" ", 2)[1])
    assert not 300 <= status < 400, raw[:300]
    assert "evil.example" not in raw.decode("latin-1")
    if status >= 400:
        assert _headers(raw)["content-type"] == "application/json"


def test_a_chunked_beacon_keeps_the_beacon_cap(chat_service: ManagedProcess) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"first_paint_ms": 120, "cache": "hit"'
        yield b" " * 2_000 + b"}"

    response = httpx.post(f"{chat_service.url}/api/client/timings", content=chunks(),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body", [
    b"5g\r\nhello\r\n0\r\n\r\n",  # a chunk size that is not hexadecimal
    b"5\r\nhello\r\n0\r\nnot a header\r\n\r\n",  # a malformed trailer
    b"5\r\nhelloXX0\r\n\r\n",  # a chunk without its line end
], ids=["size", "trailer", "terminator"])
def test_malformed_chunked_framing_is_a_400_and_closes(
    chat_service: ManagedProcess, body: bytes
) -> None:
    before = chat_service.log_tail(200_000).count("Traceback")
    raw = _raw(chat_service, b"POST /api/chat/quick HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    assert _headers(raw)["connection"] == "close"
    assert not raw.endswith(b"<still open>")
    assert json.loads(raw.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "invalid_body"
    assert chat_service.log_tail(200_000).count("Traceback") == before


def test_a_body_timeout_says_close_and_closes(
    start_chat_service, simulator: ManagedProcess
) -> None:
    service = start_chat_service(simulator.url, CHAT_BODY_TIMEOUT_SECONDS="1")
    raw = _raw(service, b"POST /api/chat/quick HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        b"application/json\r\nContent-Length: 100\r\n\r\n{\"mess")
    assert raw.startswith(b"HTTP/1.1 408")
    assert _headers(raw)["connection"] == "close"
    assert not raw.endswith(b"<still open>")


class _RefusingUpstream(BaseHTTPRequestHandler):
    status = 401

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        body = b'{"error": {"message": "no"}}'
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize(("status", "detail"), [(401, "API key"), (403, "API key"),
                                                (404, "OPENAI_BASE_URL")])
def test_readiness_is_not_ready_when_the_upstream_refuses(
    start_chat_service, status: int, detail: str
) -> None:
    _RefusingUpstream.status = status
    server = ThreadingHTTPServer((LOOPBACK, 0), _RefusingUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        service = start_chat_service(f"http://{LOOPBACK}:{server.server_port}")
        ready = httpx.get(f"{service.url}/readyz")
        assert ready.status_code == 503
        upstream = ready.json()["checks"]["upstream"]
        assert upstream["status"] == "down"
        assert f"HTTP {status}" in upstream["detail"] and detail in upstream["detail"]
    finally:
        server.shutdown()


def test_each_instance_keeps_its_own_control(chat_service: ManagedProcess) -> None:
    # gunicorn's control socket (~/.gunicorn/gunicorn.ctl) was one path for every instance on
    # the machine: stopping one deleted another's. chatperf is run by signals and opens none.
    master = psutil.Process(chat_service.pid)
    sockets = [c.laddr for c in master.net_connections(kind="unix")]
    assert not [path for path in sockets if str(path).endswith(".ctl")]


def test_the_stats_name_the_pack_without_its_path(
    start_chat_service, simulator: ManagedProcess, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "srv-RECOGNISABLE-layout"
    secret_dir.mkdir()
    pack = secret_dir / "pack.yaml"
    pack.write_text("name: acme\nsynonyms:\n  - workspace, organisation, org\n")
    service = start_chat_service(simulator.url, CHAT_CACHE_PACK=str(pack))
    stats = httpx.get(f"{service.url}/api/cache/stats").json()
    assert "RECOGNISABLE" not in json.dumps(stats)
    assert stats["pack"]["name"] == "acme"
