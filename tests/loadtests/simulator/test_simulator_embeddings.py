"""The simulator's ``/v1/embeddings`` through the real SDK: deterministic, batched, validated."""

from __future__ import annotations

import httpx
import numpy as np
import openai
import pytest

from loadtests.processes import ManagedProcess

pytestmark = pytest.mark.integration


def _vectors(client: openai.OpenAI, texts: list[str], **extra: object) -> np.ndarray:
    response = client.embeddings.create(model="text-embedding-3-small", input=texts, **extra)
    assert [item.index for item in response.data] == list(range(len(texts)))
    return np.asarray([item.embedding for item in response.data])


def test_same_text_same_vector_and_shared_words_are_close(client: openai.OpenAI) -> None:
    a, b, c, again = _vectors(client, [
        "How do I reset my password?", "how can I reset my password", "Where is my data stored?",
        "How do I reset my password?",
    ])
    assert np.array_equal(a, again)  # deterministic (the SDK decoded base64 floats)
    assert np.isclose(np.linalg.norm(a), 1.0, atol=1e-5)
    assert a @ b > 0.6 > a @ c


def test_float_encoding_and_dimensions(client: openai.OpenAI) -> None:
    as_base64 = _vectors(client, ["Is there a free trial?"])
    as_floats = _vectors(client, ["Is there a free trial?"], encoding_format="float")
    assert np.allclose(as_base64, as_floats, atol=1e-6)
    assert _vectors(client, ["Is there a free trial?"], dimensions=64).shape == (1, 64)


def test_bad_input_is_a_400(client: openai.OpenAI, simulator: ManagedProcess) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="m", input=[])
    response = httpx.post(f"{simulator.url}/v1/embeddings", json={"model": "m", "input": [1]})
    assert response.status_code == 400 and response.json()["error"]["param"] == "input"


def test_calls_and_inputs_are_counted(client: openai.OpenAI, simulator: ManagedProcess) -> None:
    before = httpx.get(f"{simulator.url}/sim/embeddings").json()
    _vectors(client, ["one", "two", "three"])
    after = httpx.get(f"{simulator.url}/sim/embeddings").json()
    assert after["requests"] - before["requests"] == 1
    assert after["inputs"] - before["inputs"] == 3
