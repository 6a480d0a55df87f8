"""The simulator's ``/v1/embeddings``: deterministic vectors, so the ``openai`` path runs keyless.

A real deployment points the cache's ``openai`` embeddings backend at OpenAI, vLLM, Ollama or
TEI; tests and the load harness point it here. The vectors are feature-hashed words and
character trigrams — not a language model, but the same text always gives the same vector and
texts sharing words give close ones, which is what the wire path needs to prove. Floats and the
SDK's default base64 encoding are both served; ``/sim/embeddings`` counts calls and inputs so a
test can see batching.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, request

__all__ = ["DIMENSIONS", "bp", "vector"]

DIMENSIONS = 256
_WORD = re.compile(r"[^\W_]+")
bp = Blueprint("sim_embeddings", __name__)
_counts = {"requests": 0, "inputs": 0}
_lock = threading.Lock()


class _Invalid(Exception):
    """A malformed embeddings request; answered 400 in OpenAI's error shape."""


def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


def vector(text: str, dimensions: int = DIMENSIONS) -> np.ndarray:
    """The unit vector of ``text``: hashed words (weight 1) and their trigrams (weight 0.3)."""
    out = np.zeros(dimensions, dtype=np.float32)
    for word in _WORD.findall(text.casefold()):
        index, sign = _bucket("w:" + word, dimensions)
        out[index] += sign
        padded = f"#{word}#"
        for i in range(len(padded) - 2):
            index, sign = _bucket("c:" + padded[i : i + 3], dimensions)
            out[index] += 0.3 * sign
    norm = float(np.linalg.norm(out))
    return out / norm if norm else out


def _inputs(body: dict[str, Any]) -> list[str]:
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise _Invalid("input must be a non-empty string or array of strings")
    if len(items) > 2048:
        raise _Invalid("input must have at most 2048 items")
    return items


@bp.errorhandler(_Invalid)
def _invalid(exc: _Invalid) -> tuple[Response, int]:
    return jsonify({"error": {"message": str(exc), "type": "invalid_request_error",
                              "param": "input", "code": None}}), 400


@bp.post("/v1/embeddings")
def embeddings() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise _Invalid("the body must be a JSON object with a model")
    items = _inputs(body)
    dimensions = body.get("dimensions") or DIMENSIONS
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        raise _Invalid("dimensions must be an integer between 1 and 4096")
    as_base64 = body.get("encoding_format") == "base64"
    with _lock:
        _counts["requests"] += 1
        _counts["inputs"] += len(items)
    data = []
    for index, text in enumerate(items):
        values = vector(text, dimensions)
        encoded: Any = (base64.b64encode(values.astype("<f4").tobytes()).decode()
                        if as_base64 else values.tolist())
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(_WORD.findall(t)) for t in items)
    return jsonify({"object": "list", "data": data, "model": body["model"],
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@bp.get("/sim/embeddings")
def embeddings_stats() -> Response:
    with _lock:
        return jsonify(dict(_counts))
