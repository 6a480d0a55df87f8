"""The ``openai`` backend: ``/v1/embeddings`` of any OpenAI-compatible server, via the SDK.

This is what a deployment on OpenAI, vLLM, Ollama or TEI uses. Calls are batched (the index
sends every newly stored question of a sync in one request), time-boxed, never retried (a slow
embedding must not hold a lookup), and go through the vector index's circuit breaker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from service.cache.embeddings import EmbeddingError

__all__ = ["OPENAI_THRESHOLD", "OPENAI_WORD_THRESHOLD", "OpenAIEmbedder"]

# Not calibrated against a real model here (no key, no hub): a starting point for
# text-embedding-3-small; run `make cache-eval` against your endpoint and set
# CHAT_CACHE_SEMANTIC_THRESHOLD from it (docs/cache.md, "Calibration").
OPENAI_THRESHOLD = 0.80
OPENAI_WORD_THRESHOLD = 0.62
_BATCH = 256


class OpenAIEmbedder:
    """Sentence vectors from a remote ``/v1/embeddings`` endpoint."""

    name = "openai"

    def __init__(self, base_url: str | None, api_key: str | None, model: str,
                 timeout_seconds: float, threshold: float = OPENAI_THRESHOLD,
                 word_threshold: float = OPENAI_WORD_THRESHOLD) -> None:
        # A local server (vLLM, TEI, the simulator) needs no key; the SDK insists on one.
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "unused",
                                     timeout=timeout_seconds, max_retries=0)
        self.model = model
        self.threshold = threshold
        self.word_threshold = word_threshold

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start : start + _BATCH])
            try:
                response = self._client.embeddings.create(model=self.model, input=batch)
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
