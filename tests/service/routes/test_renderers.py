"""The two stream renderers in process: pipeline events in, bytes out, parsed back as a client
would parse them — one event per token even when tokens go out in one write."""

from __future__ import annotations

import json

from service.errors import UpstreamFailure
from service.events import Done, Failed, Keepalive, Meta, Tokens
from service.routes.chat import SSERenderer
from service.routes.openai_compat import ChunkRenderer
from service.sse import iter_events
from service.timings import StreamTimings

META = Meta("r1", "miss", None, "gpt-4o-mini", "fast", "simple")
DONE = Done("stop", 5, 3, StreamTimings())
FAILURE = UpstreamFailure("upstream_timeout", "slow", retryable=True)


def _parse(chunks: list[bytes]) -> list:
    return list(iter_events(b"".join(chunks).decode().splitlines(keepends=True),
                            include_comments=True))


def test_sse_renderer_writes_the_chatperf_contract() -> None:
    chunks = list(SSERenderer().render(iter(
        [META, Tokens(("Hel", "lo", " \"you\"")), Keepalive(), DONE])))
    events = _parse(chunks)
    assert [e.event or f": {e.comment}" for e in events] == [
        "meta", "token", "token", "token", ": ping", "done"]
    assert "".join(e.json()["delta"] for e in events if e.event == "token") == 'Hello "you"'
    assert events[0].json()["cache"] == "miss" and events[-1].json()["finish_reason"] == "stop"
    assert len(chunks) == 4  # three tokens, one write


def test_sse_renderer_ends_a_failure_with_an_error_event() -> None:
    events = _parse(list(SSERenderer().render(iter([META, Tokens(("a",)), Failed(FAILURE)]))))
    assert events[-1].event == "error"
    assert events[-1].json() == {"code": "upstream_timeout", "message": "slow", "retryable": True}


def test_chunk_renderer_writes_openai_chunks_usage_and_done() -> None:
    renderer = ChunkRenderer("chatcmpl-1", "gpt-4o-mini", include_usage=True)
    events = _parse(list(renderer.render(iter([Tokens(("Hi", " there")), DONE]))))
    data = [e.data for e in events]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:3]] == ["Hi", " there"]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[4]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert all(c["id"] == "chatcmpl-1" and c["model"] == "gpt-4o-mini" for c in chunks)
