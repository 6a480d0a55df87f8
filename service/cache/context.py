"""The conversation part of a cache scope: which earlier questions a follow-up leans on.

The digest chains the user's earlier questions in their variation-canonical form, so "and for
teams?" after "How much is Pro?" shares a key with the same follow-up after "What does Pro
cost?", and never with one asked after another question. Assistant turns are left out: for a
cache they follow from the questions, and clients may edit or trim them.

``conversation_digest`` is the opposite: every message verbatim, for answers that a client's
history may have steered (see ``CacheScope.conversation``).
"""

from __future__ import annotations

import hashlib

from service.cache.analysis import analyse
from service.cache.variations import variation_key

__all__ = ["conversation_digest", "extend_context", "history_digest"]


def extend_context(context: str, question: str) -> str:
    """The context of the next turn after ``question`` was asked in ``context``."""
    analysis = analyse(question)
    meaning = variation_key(analysis) or analysis.normalized
    return hashlib.blake2b(f"{context}\x1f{meaning}".encode(), digest_size=12).hexdigest()


def history_digest(history: list[dict]) -> str:
    """``CacheScope.context`` for a request's history; ``""`` when there is none."""
    context = ""
    for message in history:
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            context = extend_context(context, message["content"])
    return context


def conversation_digest(history: list[dict]) -> str:
    """Every earlier message (role and exact text) as one digest; ``""`` when there is none."""
    if not history:
        return ""
    digest = hashlib.blake2b(digest_size=16)
    for message in history:
        text = f"{message.get('role')}\x1e{message.get('content')}\x1f"
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
