"""The cache's value types: what scopes an answer, what is stored, what a hit returns.

They are plain frozen dataclasses so the pipeline, the stats route and the tests share one
vocabulary, and so an entry can round-trip through JSON for the Redis backend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields

__all__ = ["CacheHit", "CacheScope", "CachedAnswer", "UnfinishedAnswer"]


class UnfinishedAnswer(Exception):
    """Raised by a background generation whose answer did not end with ``stop`` (cut at the
    token limit): there is nothing to store, but its upstream tokens were spent and count."""

    def __init__(self, input_tokens: int, output_tokens: int) -> None:
        super().__init__(f"the answer was cut after {output_tokens} tokens")
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


@dataclass(frozen=True)
class CacheScope:
    """What changes the right answer; every key includes all of it."""

    tenant: str = "public"
    system_prompt_version: str = ""
    model_choice: str = "auto"
    # The questions asked before (``history_digest``): a follow-up's meaning depends on them. A
    # self-contained question drops it, so it shares answers with the same question asked alone.
    context: str = ""
    # Every message a client sent before, verbatim (``conversation_digest``): set on answers
    # generated under client-supplied history. Never dropped, so such an answer — which that
    # history may have steered — is served to that same conversation only.
    conversation: str = ""

    @property
    def key(self) -> str:
        """A short stable digest; tenants never share one, so answers never cross them."""
        parts = (self.tenant, self.system_prompt_version, self.model_choice, self.context,
                 self.conversation)
        raw = "\x1f".join(parts)
        return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    """One finished answer as the pipeline produced it."""

    question: str
    answer: str
    model: str
    model_tier: str
    input_tokens: int
    output_tokens: int
    created_at: float
    prewarmed: bool = False

    def to_json(self) -> str:
        # Its fields are flat (text, numbers, a flag): read as they are, not deep-copied by
        # ``asdict``, which cost more than the encoding.
        return json.dumps({name: getattr(self, name) for name in _ANSWER_FIELDS},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedAnswer:
        return cls(**json.loads(raw))


_ANSWER_FIELDS = tuple(f.name for f in fields(CachedAnswer))


@dataclass(frozen=True)
class CacheHit:
    """A lookup that found an answer: the entry, the tier that matched and how closely."""

    entry: CachedAnswer
    tier: str  # "exact" | "variation" | "semantic"
    similarity: float
    category: str | None
    # How sure the operating point was: the similarity (strict) or the pair judge's
    # probability (balanced); 1.0 on the exact and variation tiers.
    confidence: float = 1.0
    variant: int = 0  # which of the key's answers this is (0: the first, stored by a miss)
    variants: int = 1  # how many answers the key holds
    entry_key: str = ""
    scope: CacheScope | None = None  # the scope the entry was found in
    # Set when this hit made another answer due (``ChatCache.add_variant`` takes it back).
    due: str | None = None
