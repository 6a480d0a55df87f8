"""Answering in the background, for the cache: predicted follow-ups and further answers.

The pre-warm scheduler (``service.cache.prewarm``) decides *what* to answer and when; this
answers it, straight from the router and the upstream client, with no client and no pipeline
involved. So the dependency runs one way: pipeline → scheduler → these answerers → upstream.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from service.cache import CachedAnswer, CacheScope
from service.cache.model import UnfinishedAnswer
from service.events import Completion, TokenDelta
from service.llm.client import UpstreamClient
from service.llm.router import ModelRouter, RouteDecision
from service.settings import Settings
from service.timings import StreamTimings

__all__ = ["FollowUpAnswerer", "background_answer"]


def background_answer(upstream: UpstreamClient, question: str,
                      messages: Sequence[dict[str, str]], decision: RouteDecision,
                      sampling: dict[str, Any] | None = None) -> CachedAnswer | None:
    """One complete upstream answer to ``messages``, counted as a background (``prewarm``) call.
    None if the upstream gave no answer; ``UnfinishedAnswer`` (with its tokens) if the answer did
    not end with ``stop``."""
    text: list[str] = []
    completion: Completion | None = None
    for item in upstream.stream(messages, decision, StreamTimings(), None, sampling,
                                origin="prewarm"):
        if isinstance(item, TokenDelta):
            text.extend(item.texts)
        elif isinstance(item, Completion):
            completion = item
    if completion is None:
        return None
    if completion.finish_reason != "stop":
        raise UnfinishedAnswer(completion.input_tokens, completion.output_tokens)
    return CachedAnswer(
        question=question, answer="".join(text), model=completion.response_model,
        model_tier=decision.tier, input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens, created_at=time.time(), prewarmed=True,
    )


class FollowUpAnswerer:
    """Generates a follow-up's answer as the pipeline would for a client with no history."""

    def __init__(self, settings: Settings, router: ModelRouter, upstream: UpstreamClient,
                 default_prompt_version: str) -> None:
        self._system_prompt = settings.system_prompt
        self._prompt_version = default_prompt_version
        self._router = router
        self._upstream = upstream

    def __call__(self, question: str, scope: CacheScope) -> CachedAnswer | None:
        if scope.system_prompt_version != self._prompt_version:
            return None  # a client's own system prompt: we cannot reproduce its context
        decision = self._router.choose(question, (), scope.model_choice)
        messages = [
            {"role": "system", "content": self._system_prompt},
            {"role": "user", "content": question},
        ]
        try:
            return background_answer(self._upstream, question, messages, decision)
        except UnfinishedAnswer:
            return None  # not worth storing; pre-warm counts it wasted
