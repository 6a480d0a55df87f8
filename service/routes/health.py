"""Liveness (``/healthz``), readiness (``/readyz``) and the API description (``/openapi.json``).

``/health`` answers as ``/healthz`` does: it is where vLLM, TGI and LiteLLM answer liveness, so
tools written for them (guidellm's backend check, load balancers' defaults) find the service
alive without being configured for it.

Readiness fails when this worker cannot take another answer: the upstream is unreachable or
refuses us (a 401/403 is a wrong key, a 404 a wrong base URL), it is draining for shutdown, or
every stream slot is taken (``checks.streams`` shows open and limit). A
cache outage is reported as ``degraded`` with 200, because the service still answers, uncached.
"""

from __future__ import annotations

import time

import httpx
from flask import Blueprint, Response, jsonify

from service.components import components
from service.openapi import build_openapi

__all__ = ["bp"]

bp = Blueprint("health", __name__)

_UPSTREAM_CHECK_TTL_SECONDS = 5.0
_last_upstream_check: dict[str, tuple[float, bool, str]] = {}


def _upstream_ok(base_url: str, api_key: str | None) -> tuple[bool, str]:
    """GET ``{base}/models``, remembered for a few seconds so probes stay cheap."""
    now = time.monotonic()
    cached = _last_upstream_check.get(base_url)
    if cached and now - cached[0] < _UPSTREAM_CHECK_TTL_SECONDS:
        return cached[1], cached[2]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=2.0)
        ok, detail = _judge(response.status_code)
    except httpx.HTTPError as exc:
        ok, detail = False, type(exc).__name__
    _last_upstream_check[base_url] = (now, ok, detail)
    return ok, detail


def _judge(status: int) -> tuple[bool, str]:
    """Whether an upstream answering ``GET /models`` with ``status`` can answer chats."""
    if status in (401, 403):
        return False, f"HTTP {status}: the upstream refuses the API key (OPENAI_API_KEY)"
    if status == 404:
        return False, "HTTP 404: no /models here; is OPENAI_BASE_URL the API root (…/v1)?"
    if status == 429:  # reachable and authenticated, only busy: chat calls retry
        return True, "HTTP 429: rate limited"
    return 200 <= status < 300, f"HTTP {status}"


@bp.get("/healthz")
@bp.get("/health")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response | tuple[Response, int]:
    parts = components()
    upstream_ok, upstream_detail = _upstream_ok(parts.upstream.base_url, parts.upstream.api_key)
    checks: dict[str, dict[str, str | int]] = {
        "upstream": {"status": "ok" if upstream_ok else "down", "detail": upstream_detail},
    }
    if parts.cache is not None:
        cache_ok, cache_detail = parts.cache.health()
        checks["cache"] = {"status": "ok" if cache_ok else "degraded", "detail": cache_detail,
                           "backend": parts.cache.backend_name}
    admission = parts.admission
    full = admission.open >= admission.limit
    checks["streams"] = {"status": "full" if full else "ok", "open": admission.open,
                         "limit": admission.limit}
    if admission.draining:
        checks["shutdown"] = {"status": "draining", "detail": "not taking new answers"}
    ready = upstream_ok and not admission.draining and not full
    degraded = any(check["status"] != "ok" for name, check in checks.items() if name != "streams")
    status = "ready" if ready and not degraded else ("degraded" if ready else "unavailable")
    return jsonify({"status": status, "checks": checks}), 200 if ready else 503


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(build_openapi(components().settings))
