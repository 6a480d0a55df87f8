"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models`` over the same pipeline.

Any OpenAI client or third-party benchmark can drive the service and goes through the same cache.
An upstream failure before the first token answers with the status and error body an OpenAI
client expects (429 with ``Retry-After``, 502, 504); once the stream has begun it ends with an
in-band ``error`` object, which the SDK raises as an ``APIError`` — never a silent end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
from flask import Blueprint, Response, jsonify

from service.body import read_json_body
from service.chat_request import parse_openai_body
from service.components import components
from service.errors import UpstreamFailure, ValidationFailed, api_error_response, error_body
from service.events import Done, Failed, Keepalive, Meta, PipelineEvent, Tokens
from service.request_context import bound_g, bound_request
from service.routes.answering import Answer, ClientGone
from service.sse import format_comment, format_data

__all__ = ["bp"]

bp = Blueprint("openai_compat", __name__)


@bp.errorhandler(ValidationFailed)
def _invalid(exc: ValidationFailed) -> Response:
    """OpenAI answers a malformed request with 400; OpenAI clients expect that status."""
    return api_error_response(exc, status=400)


def _failure_response(failure: UpstreamFailure) -> tuple[Response, int]:
    response = jsonify(error_body(failure.code, failure.message, "upstream_error"))
    if failure.retry_after:
        response.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
    return response, failure.http_status


def _usage(done: Done) -> dict[str, int]:
    return {
        "prompt_tokens": done.input_tokens,
        "completion_tokens": done.output_tokens,
        "total_tokens": done.input_tokens + done.output_tokens,
    }


class ChunkRenderer:
    """Renders pipeline events as ``chat.completion.chunk`` objects, ending with ``[DONE]``."""

    def __init__(self, completion_id: str, model: str, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._model = model
        self._id = completion_id
        created = int(time.time())
        # Every chunk shares its head; only the delta changes, so it is encoded once. A content
        # chunk is that head, the text as JSON and a fixed tail: the tokens of one batch are
        # joined by tail + head, so each token costs one ``orjson.dumps``.
        head = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model}
        self._content_head = (b"data: " + orjson.dumps(head)[:-1]
                              + b',"choices":[{"index":0,"delta":{"content":')
        self._content_tail = b'},"finish_reason":null}]}\n\n'
        self._between = self._content_tail + self._content_head
        self._created = created

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return format_data({"id": self._id, "object": "chat.completion.chunk",
                            "created": self._created, "model": self._model,
                            "choices": [choice]})

    def _content_chunks(self, texts: tuple[str, ...]) -> bytes:
        if not texts:
            return b""
        return (self._content_head + self._between.join(map(orjson.dumps, texts))
                + self._content_tail)

    def render(self, events: Iterator[PipelineEvent]) -> Iterator[bytes]:
        # The role chunk goes out with what follows it, and an answer's end in one piece: the
        # headers wait for the first token anyway, and every piece yielded is a write.
        pending = self._chunk({"role": "assistant", "content": ""})
        for event in events:
            if isinstance(event, Tokens):
                yield pending + self._content_chunks(event.deltas)
            elif isinstance(event, Keepalive):
                yield pending + format_comment("ping")
            elif isinstance(event, Done):
                end = [pending, self._chunk({}, event.finish_reason)]
                if self._include_usage:
                    end.append(format_data({
                        "id": self._id, "object": "chat.completion.chunk",
                        "created": self._created, "model": self._model, "choices": [],
                        "usage": _usage(event),
                    }))
                end.append(format_data("[DONE]"))
                yield b"".join(end)
            elif isinstance(event, Failed):
                yield pending + self.failure(event.failure)
            else:
                continue
            pending = b""
        if pending:
            yield pending

    def failure(self, failure: UpstreamFailure) -> bytes:
        return format_data(error_body(failure.code, failure.message, "upstream_error"))


@bp.post("/v1/chat/completions")
def chat_completions() -> Response | tuple[Response, int]:
    parts = components()
    settings = parts.settings
    scope = bound_g()
    chat, options = parse_openai_body(
        read_json_body(bound_request(), settings.max_body_bytes, settings.body_timeout_seconds),
        settings, scope.tenant,
    )
    answer = Answer(parts, chat, "openai")
    completion_id = f"chatcmpl-{scope.request_id}"
    if not options.stream:
        try:
            collected = answer.collect()
        except ClientGone:
            return Response(status=499)  # nobody reads it: nginx's "client closed request"
        if collected.failed is not None:
            return _failure_response(collected.failed.failure)
        assert collected.meta is not None and collected.done is not None
        response = jsonify({
            "id": completion_id, "object": "chat.completion", "created": int(time.time()),
            "model": collected.meta.model,
            "choices": [{
                "index": 0, "finish_reason": collected.done.finish_reason,
                "message": {"role": "assistant", "content": collected.text},
            }],
            "usage": _usage(collected.done),
        })
        response.headers["X-Cache"] = collected.meta.cache
        return response
    # Hold the headers until the answer starts, so an early failure (or the end of the shutdown
    # grace) gets a real status; a client that left meanwhile is let go (``unwritten``).
    first: list[PipelineEvent] = []
    try:
        for event in answer.unwritten():
            first.append(event)
            if isinstance(event, Failed):
                answer.close()
                return _failure_response(event.failure)
            if isinstance(event, Tokens | Done):
                break
    except ClientGone:
        return Response(status=499)
    except BaseException:
        answer.close()
        raise
    meta = next((e for e in first if isinstance(e, Meta)), None)
    model = meta.model if meta is not None else options.requested_model
    renderer = ChunkRenderer(completion_id, model, options.include_usage)
    return answer.stream(renderer, tuple(first),
                         headers={"X-Cache": meta.cache if meta is not None else "miss"})
@bp.get("/v1/models")
def list_models() -> Response:
    settings = components().settings
    names = ["auto", settings.fast_model, settings.smart_model]
    return jsonify({
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": "chatperf"}
                 for name in names],
    })
