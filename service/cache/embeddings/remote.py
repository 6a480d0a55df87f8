"""The ``openai`` backend: ``/v1/embeddings`` of any OpenAI-compatible server, via the SDK.

This is what a deployment on OpenAI, vLLM, Ollama or TEI uses. Calls are batched (the index
sends every newly stored question of a sync in one request), time-boxed, never retried (a slow
embedding must not hold a lookup), and go through the vector index's circuit breaker.

Credentials go only where they are configured to go: ``CHAT_EMBEDDINGS_API_KEY`` if set, else
the upstream's ``OPENAI_API_KEY`` only when the embeddings endpoint is the upstream's own origin
(scheme, host and port); any other server gets no ``Authorization`` header at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np
import openai

from service.cache.embeddings import EmbeddingError
from service.settings import Settings

__all__ = ["OPENAI_THRESHOLD", "OPENAI_WORD_THRESHOLD", "OpenAIEmbedder", "embeddings_api_key"]

# Where the SDK sends requests when no base URL is set.
_OPENAI_URL = "https://api.openai.com/v1"

# Not calibrated against a real model here (no key, no hub): a starting point for
# text-embedding-3-small; run `make cache-eval` against your endpoint and set
# CHAT_CACHE_SEMANTIC_THRESHOLD from it (docs/cache.md, "Calibration").
OPENAI_THRESHOLD = 0.80
OPENAI_WORD_THRESHOLD = 0.62
_BATCH = 256


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def embeddings_api_key(settings: Settings) -> str | None:
    """The key the embeddings endpoint is sent: its own, or the upstream's for the upstream's
    own origin, else none."""
    if settings.embeddings_api_key:
        return settings.embeddings_api_key
    upstream = settings.openai_base_url or _OPENAI_URL
    target = settings.embeddings_base_url or upstream
    return settings.openai_api_key if _origin(target) == _origin(upstream) else None


class OpenAIEmbedder:
    """Sentence vectors from a remote ``/v1/embeddings`` endpoint."""

    name = "openai"

    def __init__(self, base_url: str | None, api_key: str | None, model: str,
                 timeout_seconds: float, threshold: float = OPENAI_THRESHOLD,
                 word_threshold: float = OPENAI_WORD_THRESHOLD) -> None:
        # A local server (vLLM, TEI, the simulator) needs no key; the SDK insists on one, so
        # without a key its Authorization header is left out.
        self._headers: dict[str, openai.Omit] = (
            {} if api_key else {"Authorization": openai.Omit()})
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "unused",
                                     timeout=timeout_seconds, max_retries=0)
        self.model = model
        self.threshold = threshold
        self.word_threshold = word_threshold

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIEmbedder:
        return cls(settings.embeddings_base_url or settings.openai_base_url,
                   embeddings_api_key(settings), settings.embeddings_model,
                   settings.embeddings_timeout_ms / 1000)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start : start + _BATCH])
            try:
                response = self._client.embeddings.create(model=self.model, input=batch,
                                                          extra_headers=self._headers)
            except openai.OpenAIError as exc:
                raise EmbeddingError(f"embeddings endpoint failed: {exc}") from exc
            if len(response.data) != len(batch):
                raise EmbeddingError(
                    f"embeddings endpoint returned {len(response.data)} vectors for {len(batch)}")
            ordered = sorted(response.data, key=lambda item: item.index)
            rows.append(np.asarray([item.embedding for item in ordered], dtype=np.float32))
        out = np.concatenate(rows) if rows else np.zeros((0, 1), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def close(self) -> None:
        self._client.close()
