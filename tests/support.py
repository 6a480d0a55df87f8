"""Helpers the tests share: binaries that may be missing, service environments, SSE reads."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.sse import SSEEvent, iter_events

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str, package: str) -> str:
    """Path of ``name``; skip without it on a laptop, fail without it in CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package {package})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def service_env(upstream_url: str, **overrides: str) -> dict[str, str]:
    """Environment for a service process: the given upstream, no Redis, no pre-warm noise, and
    a one-second shutdown grace, so stopping it after a test that left streams open (a stalled
    upstream) does not wait the production ten seconds."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_"))}
    env.update({
        "OPENAI_BASE_URL": f"{upstream_url}/v1",
        "CHAT_LOG_LEVEL": "WARNING",
        "CHAT_PREWARM": "0",
        "CHAT_SHUTDOWN_GRACE_SECONDS": "1",
    })
    env.update(overrides)
    return env


def stream_chat(
    base_url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None,
    timeout: float = 30.0, include_comments: bool = False,
) -> tuple[httpx.Response, list[SSEEvent]]:
    """POST ``/api/chat/stream`` and read the whole SSE body into events."""
    with httpx.Client(timeout=timeout) as client, client.stream(
        "POST", f"{base_url}/api/chat/stream", json=dict(body), headers=dict(headers or {})
    ) as response:
        events = list(iter_events(response.iter_lines(), include_comments=include_comments))
        return response, events
