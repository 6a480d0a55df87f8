"""Caches to measure: one per semantic backend, operating point and pack, memory or Redis.

Every replay and every set gets a fresh, empty cache built as the service builds its own
(``ChatCache`` with an ``Analyzer`` over the pack), so what is measured is what runs.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from service.cache import TIERS, Analyzer, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.cache import embedder_from_settings
from service.cache.embeddings import Embedder
from service.cache.pack import DomainPack
from service.cache.redis_backend import RedisBackend
from service.settings import Settings

__all__ = ["CacheSpec", "embedder"]

_ENTRIES = 100_000


@functools.cache
def embedder(name: str, base_url: str | None = None, path: str | None = None) -> Embedder | None:
    """The named backend's model, made once per process (None for lexical); raises
    ``EmbeddingsUnavailable`` or ``SettingsError`` when it cannot start."""
    settings = Settings.from_env().replace(
        cache_embeddings=name, embeddings_base_url=base_url,
        **({"embeddings_path": path} if path else {}))
    return embedder_from_settings(settings)


@dataclass(frozen=True)
class CacheSpec:
    """What a measured cache is: its backend, operating point, pack and threshold."""

    backend: str
    match: str
    pack: DomainPack
    threshold: float = 0.0  # 0: the pack's or the calibrated default
    redis_url: str | None = None
    base_url: str | None = None
    model_path: str | None = None

    @property
    def label(self) -> str:
        return f"{self.pack.name} · {self.match} · {self.backend}"

    def make(self, tiers: tuple[str, ...] = TIERS) -> ChatCache:
        """A fresh, empty cache (a new namespace on Redis)."""
        namespace = f"cache-eval-{uuid.uuid4().hex[:8]}"
        backend = (RedisBackend(self.redis_url, namespace, 3600, _ENTRIES, timeout_ms=1000)
                   if self.redis_url else MemoryBackend(3600, _ENTRIES))
        return ChatCache(backend, namespace=namespace, max_entries=_ENTRIES, tiers=tiers,
                         threshold=self.threshold, analyzer=Analyzer(self.pack),
                         embedder=embedder(self.backend, self.base_url, self.model_path),
                         match=self.match)

    def factory(self) -> Callable[[tuple[str, ...]], ChatCache]:
        return self.make
