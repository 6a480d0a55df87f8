"""The answer cache: exact, variation and semantic tiers over Redis or memory, plus pre-warm.

The chat pipeline builds a ``CacheScope`` per request, calls ``ChatCache.lookup`` before the
upstream and ``ChatCache.store`` after a complete answer, then hands the turn to
``PrewarmScheduler.after_answer``. How each tier decides is in docs/cache.md.
"""

from __future__ import annotations

from service.cache.analyzer import Analyzer
from service.cache.cache import TIERS, ChatCache
from service.cache.context import conversation_digest
from service.cache.model import CachedAnswer, CacheHit, CacheScope
from service.cache.prewarm import PrewarmScheduler

__all__ = [
    "TIERS",
    "Analyzer",
    "CacheHit",
    "CacheScope",
    "CachedAnswer",
    "ChatCache",
    "PrewarmScheduler",
    "conversation_digest",
]
