"""The service's settings: one typed object, read once from the environment.

Standard names come first (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``REDIS_URL``; the ``OTEL_*``
variables are read by the OpenTelemetry SDK itself), then chatperf's own ``CHAT_*`` names. Nothing
else in the project calls ``os.getenv``: code takes a ``Settings`` and reads its fields.
``python -m service settings`` prints the table that docs/settings.md carries.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RateLimit", "Settings", "SettingsError", "settings_table"]

DEFAULT_SYSTEM_PROMPT = (
    "You are chatperf's helpful product assistant. Answer clearly and concisely."
)


class SettingsError(ValueError):
    """Raised when an environment variable holds a value its setting cannot take."""


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")
_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_POSITIVE = (1, math.inf)
_SECONDS = (0.001, 86_400.0)


@dataclass(frozen=True)
class RateLimit:
    """``count`` requests per ``period_seconds`` window (``CHAT_RATE_LIMIT``)."""

    count: int
    period_seconds: int

    @classmethod
    def parse(cls, spec: str) -> RateLimit:
        match = _RATE_SPEC.match(spec)
        if not match or int(match.group(1)) < 1:
            raise SettingsError(
                f"CHAT_RATE_LIMIT={spec!r}: use N/second, N/minute, N/hour or N/day"
            )
        return cls(int(match.group(1)), _PERIODS[match.group(2)])


@dataclass(frozen=True)
class Settings:
    """Everything the service can be told, with its default; see ``settings_table()``."""

    # --- upstream LLM -------------------------------------------------------------------------
    openai_api_key: str | None = _setting(
        "OPENAI_API_KEY", None, "API key for the upstream. Unset with no base URL: the simulator."
    )
    openai_base_url: str | None = _setting(
        "OPENAI_BASE_URL", None,
        "Upstream OpenAI-compatible endpoint (OpenAI, vLLM, Ollama…). Unset: `python -m service`"
        " starts the embedded simulator and points here.",
    )
    fast_model: str = _setting("CHAT_FAST_MODEL", "gpt-4o-mini", "Model for simple questions.")
    smart_model: str = _setting("CHAT_SMART_MODEL", "gpt-4o", "Model for complex questions.")
    system_prompt: str = _setting(
        "CHAT_SYSTEM_PROMPT", DEFAULT_SYSTEM_PROMPT, "System prompt sent before every question."
    )
    max_output_tokens: int = _setting("CHAT_MAX_OUTPUT_TOKENS", 512, "`max_tokens` per answer.")
    router_long_message_chars: int = _setting(
        "CHAT_ROUTER_LONG_MESSAGE_CHARS", 240,
        "`auto` routing: messages longer than this go to the smart model.",
    )
    upstream_connect_timeout_seconds: float = _setting(
        "CHAT_UPSTREAM_CONNECT_TIMEOUT_SECONDS", 5.0, "Connecting to the upstream."
    )
    upstream_transport: str = _setting(
        "CHAT_UPSTREAM_TRANSPORT", "lean",
        "HTTP under the `openai` SDK: `lean` (chatperf's keep-alive HTTP/1.1, a fraction of the"
        " CPU per token; direct only, so an `HTTP(S)_PROXY` covering the upstream selects the"
        " stock one) or `httpx` (the SDK's stock httpcore transport).",
    )
    upstream_first_token_timeout_seconds: float = _setting(
        "CHAT_UPSTREAM_FIRST_TOKEN_TIMEOUT_SECONDS", 30.0,
        "From sending the request to the first content token.",
    )
    upstream_idle_timeout_seconds: float = _setting(
        "CHAT_UPSTREAM_IDLE_TIMEOUT_SECONDS", 20.0, "Longest silence between two tokens."
    )
    upstream_max_retries: int = _setting(
        "CHAT_UPSTREAM_MAX_RETRIES", 2,
        "Retries of a failed upstream call, only before the first token reached the client.",
    )
    upstream_retry_after_max_seconds: float = _setting(
        "CHAT_UPSTREAM_RETRY_AFTER_MAX_SECONDS", 4.0, "Cap on an upstream `Retry-After` wait."
    )
    sim_profile: str = _setting(
        "CHAT_SIM_PROFILE", "seed", "Latency profile of the embedded simulator (seed, fast, slow…)."
    )

    # --- cache --------------------------------------------------------------------------------
    redis_url: str | None = _setting(
        "REDIS_URL", None,
        "Redis for the cache, rate limits and single flight, shared by every worker and instance:"
        " `redis://host:port/0`, or a Redis Cluster as `redis+cluster://host:port,host:port`"
        " (docs/topology.md). Unset: in-memory backend.",
    )
    cache_enabled: bool = _setting("CHAT_CACHE", True, "Turn the answer cache on or off.")
    cache_namespace: str = _setting(
        "CHAT_CACHE_NAMESPACE", "chatperf", "Prefix of every Redis key the service writes."
    )
    cache_ttl_seconds: int = _setting(
        "CHAT_CACHE_TTL_SECONDS", 86_400, "How long a cached answer lives."
    )
    cache_max_entries: int = _setting(
        "CHAT_CACHE_MAX_ENTRIES", 50_000, "Size bound; the least recently used entries go first."
    )
    cache_semantic_threshold: float = _setting(
        "CHAT_CACHE_SEMANTIC_THRESHOLD", 0.0,
        "The operating point's threshold: the similarity a semantic hit needs (`strict`) or the"
        " pair judge's probability (`balanced`); 0 means the pack's, else the calibrated one.",
    )
    cache_timeout_ms: int = _setting(
        "CHAT_CACHE_TIMEOUT_MS", 50, "Time box of one cache call; slower counts as an outage."
    )
    cache_variants: int = _setting(
        "CHAT_CACHE_VARIANTS", 3,
        "Answers a cached question may hold: a miss stores the first, background generations"
        " (under the pre-warm budget) add the others; a hit picks one. 1: one answer, as before.",
    )
    cache_variant_after_hits: int = _setting(
        "CHAT_CACHE_VARIANT_AFTER_HITS", 3,
        "Hits a cached question takes before each further answer is generated (docs/cache.md).",
    )
    prewarm: bool = _setting("CHAT_PREWARM", True, "Predictive pre-warm of likely follow-ups.")
    prewarm_concurrency: int = _setting(
        "CHAT_PREWARM_CONCURRENCY", 2, "Pre-warm generations running at once, per worker."
    )
    prewarm_budget_per_minute: int = _setting(
        "CHAT_PREWARM_BUDGET_PER_MINUTE", 30, "Pre-warm generations started per minute, per worker."
    )
    prewarm_memory_bytes: int = _setting(
        "CHAT_PREWARM_MEMORY_BYTES", 8 << 20,
        "Memory bound, per worker, of what pre-warm learns from traffic (which question follows"
        " which; least recent out first).",
    )
    cache_breaker_seconds: float = _setting(
        "CHAT_CACHE_BREAKER_SECONDS", 5.0,
        "After a failed or slow Redis call, skip Redis this long, then probe it again.",
    )
    cache_analysis_bytes: int = _setting(
        "CHAT_CACHE_ANALYSIS_BYTES", 16 << 20,
        "Memory bound, per worker, of the memo of analysed questions (least recent out first).",
    )
    cache_index_bytes: int = _setting(
        "CHAT_CACHE_INDEX_BYTES", 128 << 20,
        "Memory bound, per worker, of the semantic index (oldest questions out first).",
    )
    cache_memory_bytes: int = _setting(
        "CHAT_CACHE_MEMORY_BYTES", 256 << 20,
        "Memory bound, per worker, of the in-memory backend (answers, and questions waiting for"
        " the semantic index); least recently used out first. With Redis: Redis's `maxmemory`.",
    )
    cache_embeddings: str = _setting(
        "CHAT_CACHE_EMBEDDINGS", "lexical",
        "Semantic tier's model: `lexical` (TF-IDF, nothing to download), `openai` (the"
        " `/v1/embeddings` endpoint) or `local` (a static model from `CHAT_EMBEDDINGS_PATH`).",
    )
    cache_pack: str | None = _setting(
        "CHAT_CACHE_PACK", None,
        "A domain pack (YAML: a product's names, words, categories, follow-ups and calibrated"
        " thresholds) the cache reads questions with. Unset: English only, no product.",
    )
    cache_match: str = _setting(
        "CHAT_CACHE_MATCH", "strict",
        "Semantic operating point: `strict` (every guard; precision >= 0.99 on every measured"
        " set) or `balanced` (the hard guards, then the pair judge; more recall, precision"
        " >= 0.97). `make cache-calibrate` measures both on your questions.",
    )
    embeddings_base_url: str | None = _setting(
        "CHAT_EMBEDDINGS_BASE_URL", None,
        "`openai` embeddings endpoint (OpenAI, vLLM, Ollama, TEI). Unset: the upstream's.",
    )
    embeddings_api_key: str | None = _setting(
        "CHAT_EMBEDDINGS_API_KEY", None,
        "API key for the `openai` embeddings endpoint. Unset: `OPENAI_API_KEY` goes there only"
        " when it is the upstream's own origin (scheme, host and port); another gets no key.",
    )
    embeddings_model: str = _setting(
        "CHAT_EMBEDDINGS_MODEL", "text-embedding-3-small", "`openai` embeddings model."
    )
    embeddings_timeout_ms: int = _setting(
        "CHAT_EMBEDDINGS_TIMEOUT_MS", 300,
        "Time box of one `openai` embeddings call; slower opens the embeddings breaker.",
    )
    embeddings_path: str | None = _setting(
        "CHAT_EMBEDDINGS_PATH", None,
        "`local` model folder. Unset: `~/.cache/chatperf/embeddings/all-minilm-l6-v2-m2v`,"
        " made by `python -m service.cache.embeddings distill`.",
    )

    # --- several instances (docs/topology.md) -------------------------------------------------
    single_flight_shared: bool = _setting(
        "CHAT_SINGLE_FLIGHT_SHARED", True,
        "With `REDIS_URL`, identical questions asked at once on any worker or instance share one"
        " upstream call (a Redis lease per question); `0` keeps single flight per worker.",
    )
    single_flight_lease_seconds: float = _setting(
        "CHAT_SINGLE_FLIGHT_LEASE_SECONDS", 5.0,
        "Lease of a shared flight's leader, renewed while it reads; a leader that dies is"
        " replaced by a follower within this.",
    )

    # --- limits and protection ----------------------------------------------------------------
    max_body_bytes: int = _setting("CHAT_MAX_BODY_BYTES", 65_536, "Request body cap (413).")
    body_timeout_seconds: float = _setting(
        "CHAT_BODY_TIMEOUT_SECONDS", 10.0,
        "A request body must arrive within this (408 and the connection closed).",
    )
    max_message_chars: int = _setting(
        "CHAT_MAX_MESSAGE_CHARS", 4_000, "Cap on every message text, of every role (422)."
    )
    max_history_messages: int = _setting(
        "CHAT_MAX_HISTORY_MESSAGES", 20, "Cap on earlier messages, system ones included (422)."
    )
    max_streams_per_worker: int = _setting(
        "CHAT_MAX_STREAMS_PER_WORKER", 2_000, "Open streams per worker before 503 + Retry-After."
    )
    rate_limit: str | None = _setting(
        "CHAT_RATE_LIMIT", None, "Per-client rate limit such as `60/minute` (429). Unset: none."
    )
    api_keys: tuple[str, ...] = _setting(
        "CHAT_API_KEYS", (), "Comma-separated keys; when set, chat routes need `Bearer` auth."
    )
    protect_stats: bool = _setting(
        "CHAT_PROTECT_STATS", False, "With API keys set, also require them for stats and metrics."
    )
    ping_interval_seconds: float = _setting(
        "CHAT_PING_INTERVAL_SECONDS", 5.0,
        "SSE `: ping` keep-alive interval; also how fast a vanished client is noticed.",
    )
    shutdown_grace_seconds: float = _setting(
        "CHAT_SHUTDOWN_GRACE_SECONDS", 10.0, "On SIGTERM, how long open streams may finish."
    )
    keepalive_seconds: int = _setting(
        "CHAT_KEEPALIVE_SECONDS", 5,
        "How long an idle client connection stays open for its next request; behind a load "
        "balancer, longer than its idle timeout.",
    )
    header_timeout_seconds: float = _setting(
        "CHAT_HEADER_TIMEOUT_SECONDS", 10.0,
        "A request's line and headers must arrive within this, from the connection's accept or"
        " from the first byte of a kept-alive connection's next request (then closed).",
    )
    max_connections_per_worker: int = _setting(
        "CHAT_MAX_CONNECTIONS_PER_WORKER", 4_096,
        "Open client connections per worker, idle ones included; near it, the connection that"
        " has waited longest for a request is closed to make room. Above"
        " `CHAT_MAX_STREAMS_PER_WORKER`.",
    )
    proxy_hops: int = _setting(
        "CHAT_PROXY_HOPS", 0,
        "Reverse proxies in front whose `X-Forwarded-For`/`-Proto`/`-Host` are trusted, so rate"
        " limits see the real client. 0: the headers are ignored (no proxy, or clients could"
        " forge them).",
    )
    client_timings_rate_limit: str = _setting(
        "CHAT_CLIENT_TIMINGS_RATE_LIMIT", "120/minute",
        "Per-address limit on the chat page's timing beacons (`/api/client/timings`, 429).",
    )

    # --- telemetry ----------------------------------------------------------------------------
    telemetry: bool = _setting(
        "CHAT_TELEMETRY", True, "Traces and per-request spans (`/metrics` is always on)."
    )
    otel_service_name: str = _setting(
        "OTEL_SERVICE_NAME", "chatperf", "`service.name` of every span and metric."
    )
    otel_traces_exporter: str = _setting(
        "OTEL_TRACES_EXPORTER", "none",
        "`otlp` (endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`), `console` or `none`.",
    )
    otel_metrics_exporter: str = _setting(
        "OTEL_METRICS_EXPORTER", "none", "`otlp` pushes metrics too; `/metrics` is always served."
    )
    otel_exporter_otlp_protocol: str = _setting(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf", "`http/protobuf` or `grpc`."
    )
    metrics_dir: str | None = _setting(
        "CHAT_METRICS_DIR", None,
        "Folder where workers share metric snapshots so `/metrics` and stats cover all workers."
        " `python -m service` sets a fresh one.",
    )
    log_level: str = _setting("CHAT_LOG_LEVEL", "INFO", "Log level of the service.")

    @property
    def uses_simulator(self) -> bool:
        return self.openai_base_url is None and self.openai_api_key is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from ``environ`` (default ``os.environ``), then apply overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse a value the service cannot run with, naming the variable (one line)."""
        for f in dataclasses.fields(self):
            check = _CHECKS.get(f.name)
            value = getattr(self, f.name)
            if check is None or value is None:
                continue
            env = f.metadata["env"]
            if isinstance(check, tuple):
                low, high = check
                if not low <= value <= high:
                    raise SettingsError(f"{env}={value!r} must be from {low:g} to {high:g}")
            elif callable(check):
                check(env, value)
            elif value not in check:
                raise SettingsError(f"{env}={value!r}: choose one of {', '.join(sorted(check))}")
        if self.max_connections_per_worker <= self.max_streams_per_worker:
            raise SettingsError(
                f"CHAT_MAX_CONNECTIONS_PER_WORKER={self.max_connections_per_worker} must be above"
                f" CHAT_MAX_STREAMS_PER_WORKER={self.max_streams_per_worker}: every stream holds"
                " a connection")

    @property
    def rate_limit_spec(self) -> RateLimit | None:
        return RateLimit.parse(self.rate_limit) if self.rate_limit else None

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    env = f.metadata["env"]
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError as exc:
        raise SettingsError(f"{env}={raw!r} is not a valid {kind}") from exc


def _url(schemes: tuple[str, ...]) -> Any:
    def check(env: str, value: str) -> None:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise SettingsError(f"{env}={value!r} is not a {'/'.join(schemes)} URL")

    return check


def _exporters(allowed: frozenset[str]) -> Any:
    def check(env: str, value: str) -> None:
        names = {name.strip() for name in value.split(",") if name.strip()}
        if not names or names - allowed:
            raise SettingsError(f"{env}={value!r}: use {', '.join(sorted(allowed))}")

    return check


def _redis_url(env: str, value: str) -> None:
    from service.redis_connect import CLUSTER_SCHEMES, cluster_nodes

    if urlsplit(value).scheme not in CLUSTER_SCHEMES:
        _url(("redis", "rediss", "unix", *CLUSTER_SCHEMES))(env, value)
        return
    try:
        cluster_nodes(value)
    except ValueError as exc:
        raise SettingsError(f"{env}: {exc}") from exc


def _namespace(env: str, value: str) -> None:
    # The service adds the braces itself (a Redis Cluster hash tag around the namespace).
    if not value or "{" in value or "}" in value:
        raise SettingsError(f"{env}={value!r}: a non-empty name without braces")


def _rate(env: str, value: str) -> None:
    RateLimit.parse(value)


def _log_level(env: str, value: str) -> None:
    if value.upper() not in _LOG_LEVELS:
        raise SettingsError(f"{env}={value!r}: use one of {', '.join(sorted(_LOG_LEVELS))}")


# What each setting may be; checked at start so a bad value is one clear line, not a traceback.
_CHECKS: dict[str, Any] = {
    "openai_base_url": _url(("http", "https")),
    "redis_url": _redis_url,
    "cache_namespace": _namespace,
    "embeddings_base_url": _url(("http", "https")),
    "max_output_tokens": (1, 32_768),
    "router_long_message_chars": _POSITIVE,
    "upstream_connect_timeout_seconds": _SECONDS,
    "upstream_transport": frozenset({"lean", "httpx"}),
    "upstream_first_token_timeout_seconds": _SECONDS,
    "upstream_idle_timeout_seconds": _SECONDS,
    "upstream_max_retries": (0, 10),
    "upstream_retry_after_max_seconds": (0, 600),
    "cache_ttl_seconds": _POSITIVE,
    "cache_max_entries": _POSITIVE,
    "cache_semantic_threshold": (0.0, 1.0),
    "cache_match": frozenset({"strict", "balanced"}),
    "cache_timeout_ms": (1, 60_000),
    "cache_variants": (1, 16),
    "cache_variant_after_hits": (1, 1_000_000),
    "prewarm_concurrency": (1, 64),
    "prewarm_budget_per_minute": (0, 100_000),
    "prewarm_memory_bytes": (64 << 10, 1 << 34),
    "cache_memory_bytes": (1 << 20, 1 << 40),
    "cache_breaker_seconds": _SECONDS,
    "single_flight_lease_seconds": (0.1, 600.0),
    "max_body_bytes": (256, 64 * 1024 * 1024),
    "body_timeout_seconds": _SECONDS,
    "max_message_chars": _POSITIVE,
    "max_history_messages": (0, 10_000),
    "max_streams_per_worker": (1, 100_000),
    "rate_limit": _rate,
    "client_timings_rate_limit": _rate,
    "ping_interval_seconds": (0.01, 300.0),
    "shutdown_grace_seconds": (0.0, 3600.0),
    "keepalive_seconds": (0, 3600),
    "header_timeout_seconds": _SECONDS,
    "proxy_hops": (0, 16),
    "max_connections_per_worker": (64, 1_000_000),
    "otel_traces_exporter": _exporters(frozenset({"otlp", "console", "none"})),
    "otel_metrics_exporter": _exporters(frozenset({"otlp", "none"})),
    "otel_exporter_otlp_protocol": frozenset({"http/protobuf", "grpc"}),
    "log_level": _log_level,
}


def settings_table() -> str:
    """The Markdown table of every setting, its default and meaning (docs/settings.md)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in dataclasses.fields(Settings):
        default = f.default
        if default is None or default == ():
            shown = "unset"
        elif isinstance(default, bool):
            shown = "`1`" if default else "`0`"
        elif f.name == "system_prompt":
            shown = "a short assistant prompt"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{f.metadata['env']}` | {shown} | {f.metadata['doc']} |")
    return "\n".join(rows)
