"""Sentence embeddings for the semantic tier: which model turns a question into a vector.

``CHAT_CACHE_EMBEDDINGS`` picks one: ``lexical`` (the TF-IDF model in ``semantic.py``, no
vectors, the default), ``local`` (a static model2vec model distilled from all-MiniLM-L6-v2,
run in-process: tokenizer, table lookup, mean) or ``openai`` (the ``/v1/embeddings`` endpoint of
the upstream or of ``CHAT_EMBEDDINGS_BASE_URL``). Each backend carries its own calibrated
thresholds; the guards of the semantic tier apply to all of them (``vectors.VectorIndex``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["BACKENDS", "DEFAULT_MODEL_DIR", "Embedder", "EmbeddingError",
           "EmbeddingsUnavailable"]

BACKENDS = ("lexical", "local", "openai")
# Where `python -m service.cache.embeddings distill` writes the local model: outside git.
DEFAULT_MODEL_DIR = Path.home() / ".cache" / "chatperf" / "embeddings" / "all-minilm-l6-v2-m2v"


class EmbeddingError(RuntimeError):
    """An embedding call failed or was too slow; the semantic tier then misses."""


class EmbeddingsUnavailable(RuntimeError):
    """The configured backend cannot start (extra not installed, model not made yet)."""


class Embedder(Protocol):
    """What the vector index needs from a model. ``embed`` may raise ``EmbeddingError``."""

    name: str
    threshold: float  # a cached question this close (cosine) may answer the query
    word_threshold: float  # two words this close count as one word for the swapped-word guard

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length float32 row per text."""
        ...
