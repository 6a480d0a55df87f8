"""The upstream LLM, reached through the official ``openai`` SDK, as a stream of events.

One retry layer only: the SDK's own retries are off (``max_retries=0``) and this client retries a
failed call itself — bounded, honouring a capped ``Retry-After``, and only while no token has
reached the caller. The SDK sends the request and checks its status; the body is read through
the SDK's raw streaming response and each ``data:`` line parsed with orjson, which costs a few
microseconds a chunk instead of a typed object per chunk (``service/llm/reader.py``). The caller
waits with deadlines, for the helper thread that asks the SDK or, over the lean transport, on
the upstream socket itself: it yields ``Keepalive`` when nothing arrived for a ping interval
(the SSE writer turns that into ``: ping``, which also reveals a vanished client), and raises
``UpstreamFailure`` when the first-token or idle deadline passes. Closing the generator closes
the upstream HTTP response, so the upstream stops generating.
"""

from __future__ import annotations

import logging
import platform
import re
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from urllib.request import getproxies_environment, proxy_bypass

import httpx2
import openai
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel import semconv
from otel.instruments import ChatInstruments
from service.errors import UpstreamFailure
from service.events import Completion, Keepalive, TokenDelta, UpstreamItem
from service.llm.reader import StreamReader
from service.llm.router import RouteDecision
from service.llm.transport import LeanTransport
from service.settings import Settings
from service.timings import StreamTimings

__all__ = ["UpstreamClient", "redact_url"]

log = logging.getLogger(__name__)

_SIMULATOR_KEY = "sk-chatperf-simulator"
_REPORTED_TTFT_HEADER = "x-sim-ttft-ms"


def _env_proxy_applies(url: str) -> bool:
    """Whether ``HTTP(S)_PROXY`` in the environment (minus ``NO_PROXY``) covers ``url``: httpx
    honours those only on its own transport, so the lean one must not silently bypass them."""
    parts = urlsplit(url)
    proxies = getproxies_environment()
    return parts.scheme in proxies and not proxy_bypass(parts.hostname or "")


def redact_url(url: str) -> str:
    """``url`` without credentials or query, for logs and stats: a base URL may carry a key."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _ModelNames:
    """Bounds the response model an upstream reports to the configured models: a hostile or
    broken upstream must not put arbitrary text into metric labels, the cache or ``meta``."""

    def __init__(self, models: Sequence[str]) -> None:
        dated = "|".join(re.escape(m) for m in models)
        self._known = re.compile(rf"(?:{dated})(?:-\d{{4}}-\d{{2}}-\d{{2}})?")

    def bounded(self, reported: str | None, requested: str) -> str:
        if not reported:
            return requested
        return reported if self._known.fullmatch(reported) else semconv.OTHER_VALUE


def _failure_from(
    exc: BaseException, retry_after_cap: float, mid_stream: bool
) -> UpstreamFailure:
    """Map an SDK/transport exception to a failure the client can act on (no upstream text)."""
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, openai.RateLimitError):
        retry_after = None
        header = exc.response.headers.get("retry-after")
        if header:
            try:
                retry_after = min(float(header), retry_after_cap)
            except ValueError:
                retry_after = None
        return UpstreamFailure("upstream_rate_limited", "the upstream is rate limiting requests",
                               retryable=True, http_status=429, retry_after=retry_after)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return UpstreamFailure("upstream_timeout", "the upstream did not answer in time",
                               retryable=True, http_status=504)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        # The SDK reports a connection lost mid-body like one never made; the phase tells apart.
        if mid_stream:
            return UpstreamFailure("upstream_interrupted",
                                   "the upstream connection broke mid-answer",
                                   retryable=True, http_status=502)
        return UpstreamFailure("upstream_unavailable", "could not connect to the upstream",
                               retryable=True, http_status=502)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status >= 500:
            return UpstreamFailure("upstream_unavailable", f"the upstream answered HTTP {status}",
                                   retryable=True, http_status=502)
        return UpstreamFailure("upstream_rejected", f"the upstream refused the request "
                               f"(HTTP {status})", retryable=False, http_status=502)
    if isinstance(exc, openai.APIError):
        return UpstreamFailure("upstream_error", "the upstream reported an error mid-answer",
                               retryable=True, http_status=502)
    return UpstreamFailure("upstream_error", f"unexpected upstream failure ({type(exc).__name__})",
                           retryable=False, http_status=502)


class UpstreamClient:
    """Streams answers from the configured OpenAI-compatible upstream."""

    def __init__(
        self, settings: Settings, instruments: ChatInstruments, tracer: trace.Tracer,
        base_url: str | None = None,
    ) -> None:
        self._settings = settings
        self._instruments = instruments
        self._tracer = tracer
        self._models = _ModelNames((settings.fast_model, settings.smart_model))
        base_url = base_url or settings.openai_base_url
        read_backstop = max(settings.upstream_first_token_timeout_seconds,
                            settings.upstream_idle_timeout_seconds) + 5.0
        transport = settings.upstream_transport
        # Without a base URL the SDK uses OpenAI's, which is https.
        if transport == "lean" and _env_proxy_applies(base_url or "https://api.openai.com/v1"):
            log.info("an HTTP proxy from the environment covers the upstream: using the httpx "
                     "transport (CHAT_UPSTREAM_TRANSPORT=lean goes direct only)")
            transport = "httpx"
        if transport == "lean":
            http_client = openai.DefaultHttpxClient(transport=LeanTransport())
        else:
            # One upstream connection per open stream, kept alive: the default pool (1,000) would
            # make streams past it wait for a connection, in front of the first-token deadline.
            http_client = openai.DefaultHttpxClient(limits=httpx2.Limits(
                max_connections=settings.max_streams_per_worker + 64,
                max_keepalive_connections=256))
        self._client = openai.OpenAI(
            api_key=settings.openai_api_key or _SIMULATOR_KEY,
            base_url=base_url,
            max_retries=0,  # our own retry layer only
            timeout=openai.Timeout(
                read_backstop, connect=settings.upstream_connect_timeout_seconds
            ),
            http_client=http_client,
        )
        # The SDK reports the platform on every request; the first ``platform.platform()`` forks
        # ``uname -p``. Under gevent a fork while the server accepts lets the child steal a
        # connection, so work it out now, before serving (it is cached for the process).
        platform.platform()
        # The SDK merges a relative path into its base URL on every request (URL parsing: about
        # a fifth of its CPU for the call); the absolute URL it builds is the same every time,
        # so it is built once, the way the SDK does (its ``_prepare_url``), and handed over.
        base = self._client.base_url
        self.completions_url = str(base.copy_with(raw_path=base.raw_path + b"chat/completions"))
        parts = urlsplit(str(self._client.base_url))
        default_port = 443 if parts.scheme == "https" else 80
        self._server = (parts.hostname or "", parts.port or default_port)

    @property
    def base_url(self) -> str:
        """The upstream's base URL as configured (credentials included: not for display)."""
        return str(self._client.base_url)

    @property
    def display_url(self) -> str:
        """The base URL without credentials, for logs and stats."""
        return redact_url(self.base_url)

    @property
    def api_key(self) -> str:
        return self._client.api_key

    def close(self) -> None:
        self._client.close()

    def _genai_attributes(self, decision: RouteDecision, response_model: str | None = None,
                          error_type: str | None = None) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: semconv.GEN_AI_OPERATION_CHAT,
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: decision.model,
        }
        if response_model is not None:
            attributes[semconv.GEN_AI_RESPONSE_MODEL] = response_model
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
        return attributes

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        decision: RouteDecision,
        timings: StreamTimings,
        max_tokens: int | None = None,
        sampling: dict[str, Any] | None = None,
        origin: str = "request",
    ) -> Generator[UpstreamItem, None, None]:
        """Yield the answer as it arrives; raise ``UpstreamFailure`` when it cannot finish.

        ``origin`` says who waits for it: a client's ``request`` or a background ``prewarm``.
        """
        settings = self._settings
        span = self._tracer.start_span(
            semconv.genai_span_name(decision.model),
            kind=SpanKind.CLIENT,
            attributes={
                **self._genai_attributes(decision),
                semconv.SERVER_ADDRESS: self._server[0],
                semconv.SERVER_PORT: self._server[1],
                semconv.ATTR_MODEL_TIER: decision.tier,
            },
        )
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(span))
        body: dict[str, Any] = {
            "model": decision.model,
            "messages": list(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens or settings.max_output_tokens,
        }
        for name, value in (sampling or {}).items():
            body[name] = list(value) if isinstance(value, tuple) else value
        started = time.monotonic()
        error_type: str | None = None
        response_model: str | None = None
        labels = {semconv.LABEL_MODEL_TIER: decision.tier, semconv.LABEL_ORIGIN: origin}
        try:
            attempt = 0
            while True:
                delivered = False
                try:
                    for item in self._attempt(body, headers, timings, labels):
                        if isinstance(item, TokenDelta):
                            delivered = True
                        elif isinstance(item, Completion):
                            response_model = item.response_model
                            self._finish_span(span, decision, item)
                        yield item
                    return
                except UpstreamFailure as failure:
                    self._instruments.upstream_errors.add(
                        1, {semconv.LABEL_ERROR_TYPE: failure.code}
                    )
                    retries_left = attempt < settings.upstream_max_retries
                    if delivered or not failure.retryable or not retries_left:
                        raise
                    attempt += 1
                    span.add_event("retry", {"attempt": attempt, semconv.ERROR_TYPE: failure.code})
                    time.sleep(failure.retry_after or min(0.25 * 2 ** (attempt - 1), 2.0))
        except UpstreamFailure as failure:
            error_type = failure.code
            span.set_status(Status(StatusCode.ERROR, failure.message))
            span.set_attribute(semconv.ERROR_TYPE, failure.code)
            raise
        except GeneratorExit:
            error_type = "cancelled"
            span.set_attribute(semconv.ERROR_TYPE, "cancelled")
            raise
        finally:
            self._instruments.genai_operation_duration.record(
                time.monotonic() - started,
                self._genai_attributes(decision, response_model or decision.model, error_type),
            )
            span.end()

    def _finish_span(self, span: trace.Span, decision: RouteDecision, done: Completion) -> None:
        span.set_attributes({
            semconv.GEN_AI_RESPONSE_MODEL: done.response_model,
            semconv.GEN_AI_USAGE_INPUT_TOKENS: done.input_tokens,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: done.output_tokens,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: [done.finish_reason],
        })
        if done.reported_ttft_ms is not None:
            span.set_attribute(semconv.ATTR_UPSTREAM_REPORTED_TTFT, done.reported_ttft_ms / 1000)
        base = self._genai_attributes(decision, done.response_model)
        del base[semconv.GEN_AI_REQUEST_MODEL]
        usage = self._instruments.genai_token_usage
        usage.record(done.input_tokens, {**base, semconv.GEN_AI_TOKEN_TYPE: "input"})
        usage.record(done.output_tokens, {**base, semconv.GEN_AI_TOKEN_TYPE: "output"})

    def _attempt(
        self, body: dict[str, Any], headers: dict[str, str], timings: StreamTimings,
        labels: dict[str, str],
    ) -> Iterator[UpstreamItem]:
        settings = self._settings
        sent = time.monotonic()
        timings.upstream_sent = sent
        deadline = sent + settings.upstream_first_token_timeout_seconds
        reader = StreamReader(self._client, self.completions_url, body, headers)
        items = reader.items
        popleft = items.popleft
        finish_reason: str | None = None
        response_model: str | None = None
        input_tokens = output_tokens = 0
        first = True
        try:
            while True:
                # Read before ``items``: once the reader finished, all it added is in there.
                finished = reader.finished
                if items:
                    # Everything that arrived since the last look goes up as one batch.
                    texts: list[str] = []
                    while items:
                        chunk = popleft()
                        model = chunk.get("model")
                        if model:
                            response_model = model
                        usage = chunk.get("usage")
                        if usage:
                            input_tokens = usage.get("prompt_tokens") or 0
                            output_tokens = usage.get("completion_tokens") or 0
                        for choice in chunk.get("choices") or ():
                            if choice.get("finish_reason"):
                                finish_reason = choice["finish_reason"]
                            delta = choice.get("delta")
                            if delta:
                                text = delta.get("content")
                                if text:
                                    texts.append(text)
                    if texts:
                        if first:
                            first = False
                            # The upstream's TTFT is the wire's: request bytes sent to the bytes
                            # of the first token read. The SDK's work and the hand-over count as
                            # ours.
                            timings.upstream_sent = reader.sent_at or sent
                            timings.upstream_first_token = (reader.first_content_at
                                                            or time.monotonic())
                            if labels[semconv.LABEL_ORIGIN] != "request":
                                # A client's call is recorded with its request's overhead, by
                                # the recorder, so the two describe the same requests.
                                self._instruments.upstream_ttft.record(
                                    timings.upstream_first_token - timings.upstream_sent, labels)
                        deadline = time.monotonic() + settings.upstream_idle_timeout_seconds
                        yield TokenDelta(tuple(texts))
                elif not finished:
                    wait = min(settings.ping_interval_seconds, deadline - time.monotonic())
                    if not reader.pull(wait):
                        if time.monotonic() >= deadline:
                            phase = "first token" if first else "next token"
                            raise UpstreamFailure(
                                "upstream_timeout", f"no {phase} from the upstream in time",
                                retryable=True, http_status=504,
                            )
                        yield Keepalive()
                    continue
                if not finished:
                    continue
                if reader.failure is not None:
                    raise _failure_from(reader.failure,
                                        settings.upstream_retry_after_max_seconds,
                                        mid_stream=not first)
                if finish_reason is None:
                    raise UpstreamFailure(
                        "upstream_interrupted",
                        "the upstream stream ended before the answer was complete",
                        retryable=True,
                    )
                reported = reader.headers.get(_REPORTED_TTFT_HEADER) if reader.headers else None
                yield Completion(finish_reason,
                                 self._models.bounded(response_model, body["model"]),
                                 input_tokens, output_tokens,
                                 float(reported) if reported else None)
                return
        finally:
            reader.close()
