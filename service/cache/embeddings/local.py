"""The ``local`` backend: a model2vec static model, run in-process in tens of microseconds.

A static model is a table of token vectors distilled from a sentence transformer; a sentence's
vector is the mean of its tokens'. model2vec loads the folder (tokenizer and table); the mean
is taken here with numpy, because ``StaticModel.encode`` spends ~200 µs per call on dispatch
that a one-question lookup does not need (29 µs this way, same vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service.cache.embeddings import EmbeddingsUnavailable

__all__ = ["LOCAL_THRESHOLD", "LOCAL_WORD_THRESHOLD", "LocalEmbedder"]

# Calibrated on the tuning part of the reference workload (docs/cache.md, "Calibration").
LOCAL_THRESHOLD = 0.60
LOCAL_WORD_THRESHOLD = 0.62
_MAX_TOKENS = 128  # a question's meaning is in its first words; long ones are exact-only anyway


class LocalEmbedder:
    """Static sentence embeddings from a model2vec folder.

    The folder is made once by ``python -m service.cache.embeddings distill``.
    """

    name = "local"

    def __init__(self, path: str | Path, threshold: float = LOCAL_THRESHOLD,
                 word_threshold: float = LOCAL_WORD_THRESHOLD) -> None:
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                "CHAT_CACHE_EMBEDDINGS=local needs the embeddings extra:"
                " pip install -e '.[embeddings]'") from exc
        path = Path(path)
        if not (path / "model.safetensors").is_file():
            raise EmbeddingsUnavailable(
                f"no local embeddings model in {path}: make it once with"
                " `make embeddings-model` or point CHAT_EMBEDDINGS_PATH at one")
        model = StaticModel.from_pretrained(str(path))
        table = np.asarray(model.embedding, dtype=np.float32)
        if model.weights is not None:
            table = table * np.asarray(model.weights, dtype=np.float32)[:, None]
        if model.token_mapping is not None:
            table = table[np.asarray(model.token_mapping)]
        self._table = table
        self._tokenizer = model.tokenizer
        self._unknown = model.unk_token_id
        self.dimensions = int(table.shape[1])
        self.threshold = threshold
        self.word_threshold = word_threshold

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch(list(texts),
                                                                    add_special_tokens=False)):
            ids = [i for i in encoding.ids[:_MAX_TOKENS] if i != self._unknown]
            if ids:
                out[row] = self._table[ids].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)
