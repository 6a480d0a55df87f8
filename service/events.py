"""The events an answer is made of, from the upstream client up to the routes' renderers.

The upstream client yields ``TokenDelta``/``Keepalive``/``Completion``; the pipeline turns them
into ``Meta → Tokens… → Done`` (or ``Failed``), with ``Keepalive`` passed through while nothing
arrives. Renderers (SSE, OpenAI chunks, one JSON document) only read these types, so every route
says the same thing about one answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from service.errors import UpstreamFailure
from service.timings import StreamTimings

__all__ = [
    "CollectedAnswer", "Completion", "Done", "Failed", "Keepalive", "Meta", "PipelineEvent",
    "TokenDelta", "Tokens", "UpstreamItem", "collect_answer",
]


# --- what the upstream client yields ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TokenDelta:
    """Pieces of answer text, each as the upstream sent it, that arrived together."""

    texts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Keepalive:
    """Nothing arrived for a ping interval; a writer may send a keep-alive."""


@dataclass(frozen=True, slots=True)
class Completion:
    """The upstream finished the answer."""

    finish_reason: str
    response_model: str
    input_tokens: int
    output_tokens: int
    reported_ttft_ms: float | None


UpstreamItem = TokenDelta | Keepalive | Completion


# --- what the pipeline yields -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Meta:
    """Sent first: whether the cache answers, and which model/tier."""

    request_id: str
    cache: str  # "hit" | "miss"
    tier: str | None  # cache tier on a hit
    model: str
    model_tier: str
    routing_reason: str | None
    similarity: float | None = None
    trace_id: str | None = None
    variant: int | None = None  # on hits, which of the key's answers (CHAT_CACHE_VARIANTS > 1)

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "request_id": self.request_id, "cache": self.cache, "tier": self.tier,
            "model": self.model, "model_tier": self.model_tier,
            "routing_reason": self.routing_reason,
        }
        if self.similarity is not None:
            data["similarity"] = round(self.similarity, 4)
        if self.trace_id:
            data["trace_id"] = self.trace_id
        if self.variant is not None:
            data["variant"] = self.variant
        return data


@dataclass(frozen=True, slots=True)
class Tokens:
    """Pieces of the answer that arrived together: each is still its own token for the client,
    but all of them can go out in one write."""

    deltas: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Done:
    """The answer is complete."""

    finish_reason: str
    input_tokens: int
    output_tokens: int
    timings: StreamTimings
    trace_id: str | None = None

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "finish_reason": self.finish_reason,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens},
            "timings": self.timings.as_dict(),
        }
        if self.trace_id:
            data["trace_id"] = self.trace_id
        return data


@dataclass(frozen=True, slots=True)
class Failed:
    """The answer cannot be completed; the stream ends with an ``error`` event."""

    failure: UpstreamFailure


PipelineEvent = Meta | Tokens | Keepalive | Done | Failed


@dataclass(frozen=True)
class CollectedAnswer:
    """A whole answer for the non-streaming routes: ``done`` or ``failed`` is set."""

    meta: Meta | None
    text: str
    done: Done | None
    failed: Failed | None


def collect_answer(events: Iterator[PipelineEvent]) -> CollectedAnswer:
    """Drain the events to the end (so the answer is stored), keeping what a JSON reply needs."""
    meta: Meta | None = None
    done: Done | None = None
    failed: Failed | None = None
    pieces: list[str] = []
    for event in events:
        if isinstance(event, Tokens):
            pieces.extend(event.deltas)
        elif isinstance(event, Meta):
            meta = event
        elif isinstance(event, Done):
            done = event
        elif isinstance(event, Failed):
            failed = event
    return CollectedAnswer(meta, "".join(pieces), done, failed)
