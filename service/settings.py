"""The service's settings: one typed object, read once from the environment.

Standard names come first (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``REDIS_URL``; the ``OTEL_*``
variables are read by the OpenTelemetry SDK itself), then chatperf's own ``CHAT_*`` names. Nothing
else in the project calls ``os.getenv``: code takes a ``Settings`` and reads its fields.
``python -m service settings`` prints the table that the README carries.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Settings", "SettingsError", "settings_table"]

DEFAULT_SYSTEM_PROMPT = (
    "You are chatperf's helpful product assistant. Answer clearly and concisely."
)


class SettingsError(ValueError):
    """Raised when an environment variable holds a value its setting cannot take."""


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


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
        "REDIS_URL", None, "Redis for the cache and shared stats. Unset: in-memory backend."
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
        "Similarity a semantic hit needs; 0 means the calibrated default.",
    )
    cache_timeout_ms: int = _setting(
        "CHAT_CACHE_TIMEOUT_MS", 50, "Time box of one cache call; slower counts as an outage."
    )
    prewarm: bool = _setting("CHAT_PREWARM", True, "Predictive pre-warm of likely follow-ups.")
    prewarm_concurrency: int = _setting(
        "CHAT_PREWARM_CONCURRENCY", 2, "Pre-warm generations running at once, per worker."
    )
    prewarm_budget_per_minute: int = _setting(
        "CHAT_PREWARM_BUDGET_PER_MINUTE", 30, "Pre-warm generations started per minute, per worker."
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
    cache_embeddings: str = _setting(
        "CHAT_CACHE_EMBEDDINGS", "lexical",
        "Semantic tier's model: `lexical` (TF-IDF, nothing to download), `openai` (the"
        " `/v1/embeddings` endpoint) or `local` (a static model from `CHAT_EMBEDDINGS_PATH`).",
    )
    embeddings_base_url: str | None = _setting(
        "CHAT_EMBEDDINGS_BASE_URL", None,
        "`openai` embeddings endpoint (OpenAI, vLLM, Ollama, TEI). Unset: the upstream's.",
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

    # --- limits and protection ----------------------------------------------------------------
    max_body_bytes: int = _setting("CHAT_MAX_BODY_BYTES", 65_536, "Request body cap (413).")
    max_message_chars: int = _setting("CHAT_MAX_MESSAGE_CHARS", 4_000, "Message cap (422).")
    max_history_messages: int = _setting(
        "CHAT_MAX_HISTORY_MESSAGES", 20, "History length cap (422)."
    )
    max_streams_per_worker: int = _setting(
        "CHAT_MAX_STREAMS_PER_WORKER", 1_000, "Open streams per worker before 503 + Retry-After."
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
        return cls(**values)

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


def settings_table() -> str:
    """The Markdown table of every setting, its default and meaning (for the README)."""
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
