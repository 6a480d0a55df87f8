"""The application factory: ``create_app(settings)`` builds one service app and its parts.

Defaults come from the environment (``Settings.from_env``); tests pass their own settings and,
to read spans and metrics in memory, their own ``Telemetry``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from otel.flask_tracing import instrument_app
from otel.setup import Telemetry, init_telemetry
from service import errors, headers, ratelimit, request_context
from service.admission import Admission
from service.cache import ChatCache, PrewarmScheduler
from service.components import Components
from service.followups import FollowUpAnswerer
from service.llm.client import UpstreamClient
from service.llm.router import ModelRouter
from service.pipeline import ChatPipeline, prompt_version
from service.routes import chat, health, openai_compat, page, stats
from service.settings import Settings
from service.shared_flight import SharedFlights
from service.single_flight import SingleFlight

__all__ = ["create_app"]

log = logging.getLogger(__name__)

# Probes, scrapes and the page's static files are not traced: they would drown the chat traces.
_UNTRACED = "^/healthz$,^/health$,^/readyz$,^/metrics$,^/ui/"


def _build_components(settings: Settings, telemetry: Telemetry) -> Components:
    instruments = telemetry.instruments
    tracer = telemetry.tracer
    upstream = UpstreamClient(settings, instruments, tracer)
    router = ModelRouter(settings)
    cache = ChatCache.from_settings(settings, instruments) if settings.cache_enabled else None
    admission = Admission(settings.max_streams_per_worker)
    prewarm = None
    if cache is not None and settings.prewarm:
        answerer = FollowUpAnswerer(settings, router, upstream,
                                    prompt_version(settings.system_prompt))
        prewarm = PrewarmScheduler(
            settings, cache, answerer, instruments,
            busy=lambda: admission.open >= max(1, settings.max_streams_per_worker // 2),
            tracer=tracer,
        )
    shared = None
    if settings.redis_url and settings.single_flight_shared:
        shared = SharedFlights(settings.redis_url, settings.cache_namespace,
                               settings.single_flight_lease_seconds,
                               settings.ping_interval_seconds, settings.cache_timeout_ms / 1000,
                               settings.cache_breaker_seconds)
    flights = SingleFlight(settings.ping_interval_seconds, shared)
    pipeline = ChatPipeline(settings, router, upstream, instruments, tracer, cache, prewarm,
                            flights)
    return Components(settings, telemetry, upstream, pipeline, cache, prewarm, admission,
                      flights)


class _ChatFlask(Flask):
    """Flask, deciding once per function whether it must be run as a coroutine.

    Flask asks ``ensure_sync`` for the view and every request hook on every request (seven
    times here), and each time inspects the function's code flags. The answer cannot change for
    a registered function, so it is kept; ``ensure_sync`` is Flask's documented override."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runnable: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        runnable = self._runnable.get(func)
        if runnable is None:
            runnable = self._runnable[func] = super().ensure_sync(func)
        return runnable


def create_app(settings: Settings | None = None, telemetry: Telemetry | None = None) -> Flask:
    """Build the service; ``settings`` default to the environment."""
    settings = settings or Settings.from_env()
    if settings.openai_base_url is None and settings.openai_api_key is None:
        raise ValueError(
            "no upstream configured: set OPENAI_BASE_URL (e.g. the simulator's /v1), or use "
            "`python -m service`, which starts the embedded simulator"
        )
    telemetry = telemetry or init_telemetry(settings)
    app = _ChatFlask("service", static_folder=None)  # the page's files are served at /ui/
    json_provider = DefaultJSONProvider(app)
    json_provider.sort_keys = False  # bodies keep the order the code writes them in
    app.json = json_provider
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    # No redirect for "//" or a trailing slash: its Location would be built from the client's
    # Host header (an open redirect); such paths are a 404 like any unknown one.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.redirect_defaults = False
    if settings.proxy_hops:
        # The client's address (rate limits, the beacon's limit) comes from the X-Forwarded-*
        # headers that exactly this many reverse proxies in front add; docs/security.md.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
            x_host=settings.proxy_hops, x_port=0, x_prefix=0)
    errors.init_app(app)
    headers.init_app(app)
    request_context.init_app(app, settings)  # before instrument_app: it times the server span
    ratelimit.init_app(app, settings)
    parts = _build_components(settings, telemetry)
    app.extensions["chatperf"] = parts
    for blueprint in (chat.bp, openai_compat.bp, stats.bp, health.bp, page.bp):
        app.register_blueprint(blueprint)
    if telemetry.tracer_provider is not None:
        instrument_app(app, telemetry.tracer_provider, telemetry.meter_provider, _UNTRACED)
    log.info(
        "chatperf ready: upstream %s, cache %s, prewarm %s",
        parts.upstream.display_url, parts.cache.backend_name if parts.cache else "off",
        "on" if parts.prewarm else "off",
    )
    return app
