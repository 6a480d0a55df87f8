"""The conversation part of a cache scope that a client's history may have steered.

``conversation_digest`` keys answers generated under client-supplied history: every earlier
message, role and exact text, so such an answer is served to the same conversation and nobody
else (``CacheScope.conversation``). Its counterpart for questions that merely lean on earlier
ones, chained by meaning, is ``Analyzer.history_digest``: it needs the cache's own reading.
"""

from __future__ import annotations

import hashlib

__all__ = ["conversation_digest"]


def conversation_digest(history: list[dict]) -> str:
    """Every earlier message (role and exact text) as one digest; ``""`` when there is none."""
    if not history:
        return ""
    digest = hashlib.blake2b(digest_size=16)
    for message in history:
        text = f"{message.get('role')}\x1e{message.get('content')}\x1f"
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
