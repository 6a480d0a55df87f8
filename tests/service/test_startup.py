"""Starting ``python -m service``: bad settings, a loop to itself and the upstream in use are said
in one line at start, before anything is served."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from loadtests.processes import free_port, start_service
from tests.support import service_env

pytestmark = pytest.mark.integration


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "service", *args], env=env, text=True,
                          capture_output=True, timeout=60)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_"))}
    env.update(extra)
    return env


def test_a_bad_setting_is_one_line_and_exit_2() -> None:
    done = _run(_clean_env(CHAT_RATE_LIMIT="10/min"), "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: CHAT_RATE_LIMIT='10/min': use N/second, N/minute, N/hour or N/day"
    ]


def test_an_upstream_that_is_the_service_itself_is_refused() -> None:
    port = free_port()
    done = _run(_clean_env(OPENAI_BASE_URL=f"http://localhost:{port}/v1"), "--port", str(port))
    assert done.returncode == 2
    assert "is this service itself" in done.stderr


def test_upstream_simulator_ignores_a_key_in_the_shell() -> None:
    env = service_env("http://127.0.0.1:9", OPENAI_API_KEY="sk-RECOGNISABLE-real-key",
                      CHAT_LOG_LEVEL="INFO")
    del env["OPENAI_BASE_URL"]
    service = start_service(env, extra_args=["--upstream", "simulator"])
    try:
        answer = httpx.post(f"{service.url}/api/chat", json={"message": "Who answers?"},
                            timeout=30)
        assert answer.status_code == 200
        log = service.log_tail(20_000)
        assert "upstream: the embedded simulator" in log
        assert "RECOGNISABLE" not in log
    finally:
        service.stop()


def test_a_real_upstream_is_announced_loudly(simulator) -> None:
    service = start_service(service_env(simulator.url, OPENAI_API_KEY="sk-test",
                                        CHAT_LOG_LEVEL="INFO"))
    try:
        assert f"upstream: {simulator.url}/v1 (OPENAI_BASE_URL)" in service.log_tail(20_000)
    finally:
        service.stop()


def test_a_pack_that_cannot_be_read_stops_the_start(tmp_path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text("synonyms: |\n  workspace, org\n  kb =>\n")
    done = _run(_clean_env(CHAT_CACHE_PACK=str(path)), "--port", str(free_port()))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: CHAT_CACHE_PACK={str(path)!r}, synonyms line 2: an empty term (two commas, or"
        " nothing beside '=>')"
    ]
