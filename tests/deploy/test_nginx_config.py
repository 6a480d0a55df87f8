"""The NGINX config as rendered from the service's settings: NGINX accepts it, and its limits are
the instances' limits."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from deploy.nginx.__main__ import main as render_command
from deploy.nginx.render import ProxyOptions, rate_backstop, render, render_standalone
from loadtests.nginx import nginx_binary
from service.settings import RateLimit, Settings
from tests.support import require_binary

OPTIONS = ProxyOptions(backends=("10.0.0.5:8000", "10.0.0.6:8000"), listen="127.0.0.1:8080")


def _directive(text: str, name: str, within: str | None = None) -> list[str]:
    """Every value of ``name`` in ``text`` (or in the block that starts with ``within``)."""
    if within is not None:
        text = text[text.index(within):]
        text = text[:text.index("\n    }") if within.startswith("    ") else text.index("\n}")]
    return re.findall(rf"^\s*{re.escape(name)}\s+([^;]*);", text, re.M)


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(ms|s)", value).groups()
    return int(number) / (1000 if unit == "ms" else 1)


@pytest.mark.parametrize("env", [
    {},
    {"CHAT_RATE_LIMIT": "60/minute", "CHAT_KEEPALIVE_SECONDS": "0"},
    {"CHAT_RATE_LIMIT": "5/second", "CHAT_PING_INTERVAL_SECONDS": "0.2",
     "CHAT_MAX_BODY_BYTES": "1048576"},
])
def test_nginx_accepts_the_rendered_config(tmp_path: Path, env: dict[str, str]) -> None:
    binary = nginx_binary() or require_binary("nginx", "nginx")
    files = render_standalone(render(OPTIONS, Settings.from_env(env)), tmp_path)
    checked = subprocess.run([*files.argv(binary)[:-2], "-t"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr


def test_the_proxys_limits_follow_the_services_settings() -> None:
    settings = Settings.from_env({"CHAT_MAX_BODY_BYTES": "131072",
                                  "CHAT_BODY_TIMEOUT_SECONDS": "7",
                                  "CHAT_PING_INTERVAL_SECONDS": "5",
                                  "CHAT_KEEPALIVE_SECONDS": "5"})
    text = render(OPTIONS, settings)
    assert _directive(text, "client_max_body_size") == ["131072"]
    assert _directive(text, "client_body_timeout") == ["7s"]
    # A stream is cut only after three missed pings.
    [stream_timeout] = _directive(text, "proxy_read_timeout", "    location = /api/chat/stream")
    assert _seconds(stream_timeout) == 15
    # Idle connections to an instance close before the instance would close them.
    [keepalive] = _directive(text, "keepalive_timeout", "upstream chatperf")
    assert _seconds(keepalive) < settings.keepalive_seconds
    # Before an answer's first byte: the whole first-token budget, retries included.
    [answer_timeout] = _directive(text, "proxy_read_timeout", "server {")[:1]
    budget = (settings.upstream_first_token_timeout_seconds
              + settings.upstream_retry_after_max_seconds) * (settings.upstream_max_retries + 1)
    assert _seconds(answer_timeout) >= budget


def test_every_instance_is_an_upstream_with_passive_health() -> None:
    text = render(OPTIONS, Settings())
    assert "\n    least_conn;" in text[text.index("upstream chatperf"):]
    assert _directive(text, "server", "upstream chatperf") == [
        f"{backend} max_fails=2 fail_timeout=10s" for backend in OPTIONS.backends]
    assert _directive(text, "proxy_buffering", "    location = /api/chat/stream") == ["off"]
    assert _directive(text, "proxy_set_header") == [
        'Connection ""', "Host $host", "X-Forwarded-For $proxy_add_x_forwarded_for",
        "X-Forwarded-Proto $scheme", "X-Forwarded-Host $host",
        "X-Request-ID $chatperf_request_id"]


def test_no_keepalive_pool_when_the_instances_close_every_connection() -> None:
    text = render(OPTIONS, Settings.from_env({"CHAT_KEEPALIVE_SECONDS": "0"}))
    assert _directive(text, "keepalive", "upstream chatperf") == []


@pytest.mark.parametrize(("spec", "nginx", "burst"), [
    ("60/minute", "60r/m", 120),
    ("10/second", "10r/s", 20),
    ("3/hour", "1r/m", 6),  # NGINX's slowest rate is one a minute: rounded up, never stricter
    ("1000/day", "1r/m", 2000),
    ("90/hour", "2r/m", 180),
])
def test_the_rate_backstop_never_refuses_what_the_service_accepts(
    spec: str, nginx: str, burst: int
) -> None:
    limit = RateLimit.parse(spec)
    backstop = rate_backstop(limit, spec)
    assert (backstop.nginx, backstop.burst) == (nginx, burst)
    text = render(OPTIONS, Settings.from_env({"CHAT_RATE_LIMIT": spec}))
    assert f"rate={nginx};" in text
    assert _directive(text, "limit_req", "    location = /api/chat/stream") == [
        f"zone=chatperf_clients burst={burst} nodelay"]
    assert "limit_req" not in render(OPTIONS, Settings())  # no service limit: none here


def test_the_command_renders_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHAT_MAX_BODY_BYTES", "2048")
    out = tmp_path / "chatperf.conf"
    assert render_command(["--backend", "app:8000", "--listen", "80", "--out", str(out)]) == 0
    text = out.read_text()
    assert "server app:8000 max_fails=2" in text and "client_max_body_size 2048;" in text
    assert "python -m deploy.nginx --backend app:8000 --listen 80 --out" in text  # its recipe
    assert render_command(["--backend", "app"]) == 2
    assert "expected host:port" in capsys.readouterr().err
