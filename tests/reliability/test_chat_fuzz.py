"""Property-based fuzzing of every chat route: no input gets a 5xx, none leaks a stream slot.

Hypothesis builds bodies from every Unicode category (surrogates and control characters
included, sent as JSON escapes so the bytes are valid JSON), wrong types, and deep nesting, in
the shapes of both chat APIs and as arbitrary JSON, and sends them to a real service process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadtests.processes import ManagedProcess, start_service
from tests.support import service_env

pytestmark = pytest.mark.integration

ROUTES = ("/api/chat/stream", "/api/chat", "/api/chat/quick", "/v1/chat/completions")

texts = st.text(
    alphabet=st.characters(codec=None, categories=("L", "M", "N", "P", "S", "Z", "C")),
    max_size=60,
)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)
roles = st.sampled_from(["user", "assistant", "system", "developer", "tool"]) | texts
messages = st.lists(
    st.fixed_dictionaries({"role": roles, "content": texts | json_values}), max_size=5
)
ours = st.fixed_dictionaries(
    {"message": texts | json_values},
    optional={"history": messages | json_values, "model": texts | json_values,
              "session_id": texts | json_values},
)
openai = st.fixed_dictionaries(
    {"messages": messages | json_values},
    optional={"model": st.sampled_from(["auto", "fast", "gpt-4o"]) | texts,
              "stream": st.booleans() | json_values, "max_tokens": json_values,
              "temperature": json_values, "n": json_values, "stop": json_values,
              "stream_options": json_values},
)
deep = st.integers(min_value=500, max_value=3000).map(lambda n: "[" * n + "]" * n)


@pytest.fixture(scope="module")
def fuzzed_service(simulator: ManagedProcess) -> Iterator[ManagedProcess]:
    proc = start_service(service_env(simulator.url, CHAT_MAX_STREAMS_PER_WORKER="8",
                                     CHAT_MAX_OUTPUT_TOKENS="8"))
    yield proc
    proc.stop()


def _body(route: str, shaped: object, raw: str | None) -> bytes:
    if raw is not None:
        key = "messages" if route.startswith("/v1") else "history"
        return f'{{"message":"hi","{key}":{raw}}}'.encode()
    # ensure_ascii: lone surrogates become \\ud800-style escapes, which is valid JSON text.
    return json.dumps(shaped, ensure_ascii=True, allow_nan=True).encode()


@settings(max_examples=240, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), data=st.data())
def test_no_body_gets_a_5xx(
    fuzzed_service: ManagedProcess, route: str, data: st.DataObject
) -> None:
    shaped = data.draw(openai if route.startswith("/v1") else ours) if data.draw(
        st.booleans()) else data.draw(json_values)
    raw = data.draw(st.none() | deep)
    with httpx.Client(timeout=30) as client, client.stream(
        "POST", fuzzed_service.url + route, content=_body(route, shaped, raw),
        headers={"Content-Type": "application/json"},
    ) as response:
        response.read()
    assert response.status_code < 500, response.text


def test_after_the_fuzzing_no_stream_slot_is_held(fuzzed_service: ManagedProcess) -> None:
    ready = httpx.get(f"{fuzzed_service.url}/readyz").json()
    assert ready["checks"]["streams"]["open"] == 0
