"""Live figures for the whole service: ``/api/openai/stats``, ``/api/cache/stats``, ``/metrics``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from service.components import components
from service.stats import MetricView, cache_stats, openai_stats

__all__ = ["bp"]

bp = Blueprint("stats", __name__)


def _view() -> MetricView:
    return MetricView(components().telemetry.merged_families())


@bp.get("/api/openai/stats")
def upstream_stats() -> Response:
    parts = components()
    settings = parts.settings
    models = {"fast": settings.fast_model, "smart": settings.smart_model}
    return jsonify(openai_stats(_view(), models, parts.upstream.display_url))


@bp.get("/api/cache/stats")
def cache_figures() -> Response:
    parts = components()
    backend: dict[str, Any] = (parts.cache.describe() if parts.cache
                               else {"backend": "none", "status": "disabled"})
    if parts.prewarm is not None:
        backend["prewarm_memory_bytes"] = parts.prewarm.transitions.bytes
    return jsonify(cache_stats(_view(), backend))


@bp.get("/metrics")
def metrics() -> Response:
    body = components().telemetry.exposition()
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")
