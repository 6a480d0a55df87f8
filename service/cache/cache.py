"""``ChatCache``: the tiers in order (exact, variation, semantic) over one backend.

Lookups and stores never raise and never wait long: backend calls are time-boxed, failures go
through the circuit breaker and are counted as ``cache_lookups{result="error"}``, and the caller
then simply answers uncached. Counters go to ``ChatInstruments`` only (the stats route reads
them merged over all workers); ``describe()`` adds what only the backend knows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel import semconv
from otel.instruments import ChatInstruments
from service.cache.analyzer import Analysis, Analyzer
from service.cache.backend import Backend, BackendError, Found, LogRecord, MemoryBackend
from service.cache.breaker import CircuitBreaker
from service.cache.embeddings import BACKENDS, DEFAULT_MODEL_DIR, Embedder, EmbeddingError
from service.cache.matching import operating_point
from service.cache.model import CachedAnswer, CacheHit, CacheScope
from service.cache.pack import load_pack
from service.cache.redis_backend import RedisBackend
from service.cache.semantic import DEFAULT_THRESHOLD, SemanticIndex, similarity
from service.cache.variants import Draw
from service.cache.vectors import VectorIndex
from service.redis_connect import hash_tagged
from service.settings import Settings, SettingsError

__all__ = ["TIERS", "ChatCache", "embedder_from_settings"]

TIERS = ("exact", "variation", "semantic")
Accept = Callable[[CachedAnswer], bool]
log = logging.getLogger(__name__)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


class ChatCache:
    """The answer cache; see docs/cache.md for how each tier decides."""

    def __init__(self, backend: Backend, *, namespace: str = "chatperf", max_entries: int = 50_000,
                 threshold: float = 0.0, breaker_seconds: float = 5.0,
                 instruments: ChatInstruments | None = None, enabled: bool = True,
                 tiers: tuple[str, ...] = TIERS, index_bytes: int = 128 << 20,
                 embedder: Embedder | None = None, analyzer: Analyzer | None = None,
                 match: str = "strict", variants: int = 1, variant_after_hits: int = 3) -> None:
        self.backend = backend
        self.variants = variants  # answers a key may hold (the backend enforces it too)
        self.variant_after_hits = variant_after_hits
        self.analyzer = analyzer or Analyzer()
        self.backend_name = backend.name
        self.namespace = namespace
        self.enabled = enabled
        self.tiers = tiers
        self.index: SemanticIndex | VectorIndex
        pack = self.analyzer.pack
        if embedder is None:
            point = operating_point(match, "lexical", pack, DEFAULT_THRESHOLD, override=threshold)
            self.index = SemanticIndex(max_entries, point, index_bytes)
        else:
            point = operating_point(match, embedder.name, pack, embedder.threshold,
                                    embedder.word_threshold, threshold)
            self.index = VectorIndex(embedder, self.analyzer, max_entries, index_bytes, point,
                                     breaker_seconds)
        self.match = match
        self._instruments = instruments
        self._breaker = CircuitBreaker(breaker_seconds)
        self._backend_errors = 0

    @classmethod
    def from_settings(
        cls, settings: Settings, instruments: ChatInstruments | None = None
    ) -> ChatCache:
        """Redis when ``settings.redis_url`` is set, else the in-memory backend; questions read
        with English and the domain pack ``settings.cache_pack``."""
        analyzer = Analyzer(load_pack(settings.cache_pack),
                            settings.cache_analysis_bytes)
        backend: Backend
        namespace = hash_tagged(settings.cache_namespace)  # one slot on a Redis Cluster
        if settings.redis_url:
            backend = RedisBackend(settings.redis_url, namespace,
                                   settings.cache_ttl_seconds, settings.cache_max_entries,
                                   settings.cache_timeout_ms, settings.cache_variants,
                                   settings.cache_variant_after_hits)
        else:
            backend = MemoryBackend(settings.cache_ttl_seconds, settings.cache_max_entries,
                                    settings.cache_memory_bytes, settings.cache_variants,
                                    settings.cache_variant_after_hits)
        return cls(backend, namespace=namespace,
                   max_entries=settings.cache_max_entries,
                   threshold=settings.cache_semantic_threshold,
                   breaker_seconds=settings.cache_breaker_seconds, instruments=instruments,
                   enabled=settings.cache_enabled, index_bytes=settings.cache_index_bytes,
                   embedder=embedder_from_settings(settings), analyzer=analyzer,
                   match=settings.cache_match, variants=settings.cache_variants,
                   variant_after_hits=settings.cache_variant_after_hits)

    # --- keys ----------------------------------------------------------------------------------
    @staticmethod
    def scope_key(scope: CacheScope, analysis: Analysis) -> str:
        """A self-contained question's answer does not depend on the conversation before it."""
        if not analysis.refers_back and scope.context:
            scope = dataclasses.replace(scope, context="")
        return scope.key

    def _keys(self, scope_key: str, analysis: Analysis) -> tuple[str, str | None]:
        exact = f"{self.namespace}:e:{scope_key}:{_digest(analysis.normalized)}"
        canonical = self.analyzer.variation_key(analysis) if "variation" in self.tiers else None
        alias = f"{self.namespace}:v:{scope_key}:{_digest(canonical)}" if canonical else None
        return exact, alias

    # --- the two operations --------------------------------------------------------------------
    def lookup(self, question: str, scope: CacheScope | Sequence[CacheScope],
               count: bool = True, accept: Accept | None = None,
               draw: Draw | None = None) -> CacheHit | None:
        """The cached answer to ``question`` in ``scope``, or None (miss, disabled or outage).

        Several scopes are tried in order, as one lookup. ``accept`` may refuse an entry (one
        too long for the request's ``max_tokens``): it then does not count as a hit.
        ``count=False`` leaves the lookup out of the metrics (the quick check is not traffic).
        ``draw`` chooses among a key's answers (``variants.py``) and counts the hit toward the
        next one; without it (or with one answer a key) the first answer is served.
        """
        if not count or self.variants <= 1:
            draw = None
        if not self.enabled:
            return None
        started = time.perf_counter()
        result, hit = "miss", None
        try:
            if not self._breaker.allow():
                result = "error"
            else:
                scopes = (scope,) if isinstance(scope, CacheScope) else tuple(scope)
                for one in scopes:
                    hit = self._lookup(question, one, count, accept, draw)
                    if hit is not None:
                        break
                self._breaker.success()
                result = "hit" if hit else "miss"
        except BackendError as exc:
            self._failed(exc)
            result = "error"
        except Exception:  # a bug here must cost a cache miss, never the answer
            log.exception("cache lookup failed")
            result = "error"
        attrs = {semconv.LABEL_RESULT: result, semconv.LABEL_TIER: hit.tier if hit else "none"}
        if count and self._instruments is not None:
            self._instruments.cache_lookups.add(1, attrs)
            self._instruments.cache_lookup_duration.record(time.perf_counter() - started, attrs)
            if hit is not None and hit.variant > 0:
                self._instruments.cache_variants.add(1, {semconv.LABEL_OUTCOME: "served"})
        return hit

    def _lookup(self, question: str, scope: CacheScope, count: bool,
                accept: Accept | None = None, draw: Draw | None = None) -> CacheHit | None:
        analysis = self.analyzer.analyse(question)
        scope_key = self.scope_key(scope, analysis)
        exact_key, alias_key = self._keys(scope_key, analysis)
        semantic = "semantic" in self.tiers and analysis.matchable
        # The semantic index learns what every worker stored in the same round trip.
        found, stored = self.backend.lookup(exact_key, alias_key, draw, tail=semantic)
        if found is not None:
            return self._usable(self._hit(found, found.tier, 1.0, analysis, count, scope=scope),
                                accept)
        if not semantic:
            return None
        self._learn(stored)
        try:
            matches = self.index.search(scope_key, analysis)
        except EmbeddingError:  # the exact and variation tiers still answered above
            return None
        for match in matches:
            found = self.backend.get(match.entry_key, None, draw)
            if found is not None:
                hit = self._usable(self._hit(found, "semantic", round(match.score, 4), analysis,
                                             count, match.confidence, scope), accept)
                if hit is not None:
                    return hit
                continue
            self.index.remove(scope_key, match.entry_key)  # expired or evicted meanwhile
        return None

    def _hit(self, found: Found, tier: str, score: float, analysis: Analysis,
             count: bool, confidence: float = 1.0, scope: CacheScope | None = None) -> CacheHit:
        entry = CachedAnswer.from_json(found.payload)
        self._wasted(found.wasted)
        if count and found.first_prewarm_use and self._instruments is not None:
            self._instruments.cache_prewarm.add(1, {semconv.LABEL_OUTCOME: "used"})
        return CacheHit(entry, tier, score, analysis.category, confidence, found.variant,
                        found.variants, found.entry_key, scope, found.due)

    def _usable(self, hit: CacheHit, accept: Accept | None) -> CacheHit | None:
        """``hit`` if the request can use it; a drawn later answer it cannot (too long for its
        ``max_tokens``) falls back to the key's first, so a hit does not turn into a miss (whose
        store would replace the key's answers). A hit the request cannot use at all gives up
        the variant generation it claimed."""
        if accept is None or accept(hit.entry):
            return hit
        if hit.variant > 0:
            first = self.backend.get(hit.entry_key, None)
            if first is not None:
                entry = CachedAnswer.from_json(first.payload)
                if accept(entry):
                    return dataclasses.replace(hit, entry=entry, variant=0)
        if hit.due is not None:
            self.add_variant(hit, None, tried=False)
        return None

    def add_variant(self, hit: CacheHit, answer: CachedAnswer | None, tried: bool = True) -> bool:
        """Append ``answer`` to the key ``hit`` came from, whose generation it claimed (None
        gives the claim up). False when it was not added: the entry changed, went or is full,
        the answer repeats one it has, or the backend failed. A ``tried`` generation that
        added nothing waits ``variant_after_hits`` more hits before the next try, so a
        deterministic upstream is not asked again at every hit."""
        if hit.due is None or not self.enabled:
            return False
        try:
            added, wasted = self.backend.add_variant(
                hit.entry_key, hit.due, None if answer is None else answer.to_json(),
                _digest(answer.answer) if answer is not None else "", tried)
            self._wasted(wasted)
            return added
        except BackendError as exc:
            self._failed(exc)
        except Exception:
            log.exception("adding a cached answer's variant failed")
        return False

    def store(self, question: str, scope: CacheScope, answer: CachedAnswer) -> None:
        """Cache ``answer`` for ``question`` in ``scope``; failures only count as errors."""
        if not self.enabled or not self._breaker.allow():
            return
        try:
            analysis = self.analyzer.analyse(question)
            scope_key = self.scope_key(scope, analysis)
            exact_key, alias_key = self._keys(scope_key, analysis)
            wasted = self.backend.put(exact_key, alias_key, answer.to_json(), answer.prewarmed,
                                      LogRecord(scope_key, exact_key, question),
                                      _digest(answer.answer))
            self._breaker.success()
        except BackendError as exc:
            self._failed(exc)
            return
        except Exception:
            log.exception("cache store failed")
            return
        self._wasted(wasted)

    def _wasted(self, evicted_unused: int) -> None:
        """Pre-warmed entries the size bound evicted before any hit used them."""
        if evicted_unused and self._instruments is not None:
            self._instruments.cache_prewarm.add(evicted_unused, {semconv.LABEL_OUTCOME: "wasted"})

    def contains(self, question: str, scope: CacheScope) -> bool:
        """Whether a lookup would hit, without counting it (pre-warm uses this)."""
        try:
            return self.enabled and self._breaker.allow() and (
                self._lookup(question, scope, count=False) is not None
            )
        except Exception:
            return False

    def _learn(self, stored: list[LogRecord]) -> None:
        """Feed the semantic index with questions stored since the last lookup, by any worker."""
        fresh = [(record.scope, record.entry_key, analysis) for record in stored
                 if (analysis := self.analyzer.analyse(record.question)).matchable]
        if fresh:
            self.index.add_many(fresh)

    def _failed(self, exc: BackendError) -> None:
        self._backend_errors += 1
        self._breaker.failure(str(exc))
        log.warning("cache backend unavailable, answering uncached: %s", exc)

    # --- introspection -------------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        """The semantic tier's score of two questions (flat IDF), for tests and tuning."""
        return similarity(self.analyzer.analyse(a), self.analyzer.analyse(b))

    def describe(self) -> dict[str, Any]:
        """What only the backend knows, for ``/api/cache/stats``."""
        info: dict[str, Any] = {
            "backend": self.backend_name, "entries": None, "bytes": None,
            "backend_errors": self._backend_errors, "semantic_index": len(self.index),
            "semantic_index_bytes": self.index.bytes,
            "analysis_memo_bytes": self.analyzer.memo.bytes,
            "semantic_threshold": self.index.threshold, "tiers": list(self.tiers),
            "embeddings": self.index.name, "pack": self.analyzer.pack.describe(),
            "match": self.match,
            "variants": {"per_key": self.variants, "after_hits": self.variant_after_hits,
                         "keys": None},
        }
        if not self.enabled:
            return {**info, "status": "disabled", "detail": "cache disabled (CHAT_CACHE=0)"}
        ok, detail = self.health()
        if ok:
            try:
                info["entries"], info["bytes"] = self.backend.stats()
                info["variants"]["keys"] = self.backend.variant_keys()
            except BackendError as exc:
                self._failed(exc)
                ok, detail = False, str(exc)
        return {**info, "status": "ok" if ok else "degraded", "detail": detail}

    def health(self) -> tuple[bool, str]:
        """For ``/readyz``: (ok, detail). Probes the backend unless the breaker is open."""
        if not self.enabled:
            return True, "cache disabled"
        if not self._breaker.allow():
            return False, (f"{self.backend_name} unavailable ({self._breaker.last_error});"
                           f" retrying in {self._breaker.seconds_left():.1f}s")
        try:
            self.backend.ping()
        except BackendError as exc:
            self._failed(exc)
            return False, str(exc)
        self._breaker.success()
        return True, f"{self.backend_name} ok"

    def close(self) -> None:
        self.backend.close()
        self.index.close()


def embedder_from_settings(settings: Settings) -> Embedder | None:
    """The model ``CHAT_CACHE_EMBEDDINGS`` names, or None for the lexical index."""
    choice = settings.cache_embeddings
    if choice not in BACKENDS:
        raise SettingsError(
            f"CHAT_CACHE_EMBEDDINGS={choice!r}: expected one of {', '.join(BACKENDS)}")
    if choice == "local":
        from service.cache.embeddings.local import LocalEmbedder
        return LocalEmbedder(settings.embeddings_path or DEFAULT_MODEL_DIR)
    if choice == "openai":
        from service.cache.embeddings.remote import OpenAIEmbedder
        return OpenAIEmbedder.from_settings(settings)
    return None
