"""Client-side measurement of one request: ids sent with it, raw timings, and the sample kept.

Locust's own ``response_time`` for a streamed request is the time to the response headers, which
says nothing about when the user saw the first word. The readers here walk the SSE body line by
line and only mark moments into the same ``StreamTimings`` record the service uses; every figure
(TTFT, inter-token latency, full response) is derived from those marks, so "TTFT" means the
same thing in the service's ``done`` event, in its spans and in the load report.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from service.sse import iter_events
from service.timings import StreamTimings

__all__ = [
    "Sample",
    "counted_lines",
    "new_request_headers",
    "read_chat_stream",
    "read_openai_stream",
]


def new_request_headers() -> dict[str, str]:
    """A fresh W3C ``traceparent`` (sampled) and an ``X-Request-ID``, to find it in traces."""
    trace_id = secrets.token_hex(16)
    span_id = secrets.token_hex(8)
    return {
        "traceparent": f"00-{trace_id}-{span_id}-01",
        "X-Request-ID": secrets.token_hex(16),
    }


@dataclass
class Sample:
    """One finished request as the user saw it; one line of ``samples.jsonl``."""

    kind: str  # chat | openai | quick
    started_epoch_s: float
    request_id: str
    trace_id: str
    turn: str = ""  # workload kind of the question (exact-repeat, variation, follow-up, …)
    ok: bool = False
    status: int = 0
    error: str | None = None
    cache: str | None = None  # hit | miss (None when the request never got that far)
    tier: str | None = None
    model: str | None = None
    model_tier: str | None = None
    meta_ms: float | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    itl_ms: float | None = None
    input_tokens: int = 0  # as the answer's usage reports them (0 when it does not)
    output_tokens: int = 0
    response_bytes: int = 0  # body bytes read (the size column of Locust's statistics)
    server_ttft_ms: float | None = None
    server_total_ms: float | None = None
    timings: StreamTimings = field(default_factory=StreamTimings, repr=False)

    @classmethod
    def begin(cls, kind: str, headers: Mapping[str, str], turn: str = "") -> Sample:
        """Start a sample at the moment the request is sent."""
        trace_id = headers["traceparent"].split("-")[1]
        return cls(kind, time.time(), headers["X-Request-ID"], trace_id, turn)

    def fail(self, error: str) -> None:
        self.ok, self.error = False, error
        self.timings.mark("finished")
        self._derive()

    def finish(self) -> None:
        self.timings.mark("finished")
        self.ok = self.error is None
        self._derive()

    def _derive(self) -> None:
        t = self.timings
        self.meta_ms, self.ttft_ms, self.total_ms = t.meta_ms, t.ttft_ms, t.total_ms
        self.itl_ms = t.inter_token_ms
        self.output_tokens = self.output_tokens or t.tokens

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        del record["timings"]
        return record


def counted_lines(response: Any, sample: Sample) -> Iterator[bytes]:
    """The body's lines as ``iter_lines`` yields them, adding their bytes to ``sample``."""
    for line in response.iter_lines():
        sample.response_bytes += len(line) + 1
        yield line


def read_chat_stream(lines: Iterable[str | bytes], sample: Sample) -> str:
    """Read the service's ``meta``/``token``/``done``/``error`` events into ``sample``.

    Returns the answer text, for the next turn's history.
    """
    timings, parts = sample.timings, []
    for event in iter_events(lines):
        if event.event == "token":
            delta = event.json().get("delta")
            if delta:
                timings.mark("first_token")
                timings.tokens += 1
                parts.append(delta)
        elif event.event == "meta":
            timings.mark("meta")
            meta = event.json()
            sample.cache, sample.tier = meta.get("cache"), meta.get("tier")
            sample.model, sample.model_tier = meta.get("model"), meta.get("model_tier")
        elif event.event == "done":
            done = event.json()
            usage = done.get("usage") or {}
            sample.input_tokens = int(usage.get("input_tokens") or 0)
            sample.output_tokens = int(usage.get("output_tokens") or 0)
            server = done.get("timings") or {}
            sample.server_ttft_ms, sample.server_total_ms = server.get("ttft_ms"), server.get(
                "total_ms")
            sample.finish()
            return "".join(parts)
        elif event.event == "error":
            error = event.json()
            sample.fail(f"stream error {error.get('code')}: {error.get('message')}")
            return "".join(parts)
    sample.fail("stream ended without a done event")
    return "".join(parts)


def read_openai_stream(lines: Iterable[str | bytes], sample: Sample) -> str:
    """Read OpenAI ``chat.completion.chunk`` data lines (``[DONE]`` last) into ``sample``.

    Returns the answer text, for the next turn's history.
    """
    timings, parts = sample.timings, []
    for event in iter_events(lines):
        if event.data == "[DONE]":
            sample.finish()
            return "".join(parts)
        chunk = json.loads(event.data)
        if "error" in chunk:
            sample.fail(f"stream error: {chunk['error'].get('message')}")
            return "".join(parts)
        sample.model = chunk.get("model") or sample.model
        for choice in chunk.get("choices") or ():
            content = (choice.get("delta") or {}).get("content")
            if content:
                timings.mark("first_token")
                timings.tokens += 1
                parts.append(content)
        usage = chunk.get("usage") or {}
        if usage.get("completion_tokens"):
            sample.output_tokens = int(usage["completion_tokens"])
            sample.input_tokens = int(usage.get("prompt_tokens") or 0)
    sample.fail("stream ended without [DONE]")
    return "".join(parts)
