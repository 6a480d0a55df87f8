"""OpenAI-compatible ``/v1/chat/completions`` and ``/v1/models`` over the same pipeline.

Any OpenAI client or third-party benchmark can drive the service and goes through the same cache.
An upstream failure before the first token answers with the status and error body an OpenAI
client expects (429 with ``Retry-After``, 502, 504); once the stream has begun it ends with an
in-band ``error`` object, which the SDK raises as an ``APIError`` — never a silent end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from service.chat_request import ChatMessage, ChatRequest, model_choice, read_json_body
from service.components import components
from service.errors import SHUTTING_DOWN, UpstreamFailure, ValidationFailed, error_body
from service.pipeline import (
    Done,
    Failed,
    Keepalive,
    Meta,
    PipelineEvent,
    Token,
    collect_answer,
)
from service.routes.chat import SSE_HEADERS
from service.settings import Settings
from service.sse import format_comment, format_data

__all__ = ["bp"]

bp = Blueprint("openai_compat", __name__)


def _text(content: Any, param: str) -> str:
    """A message's content: a string, or OpenAI's list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):
        return "".join(part["text"] for part in content)
    raise ValidationFailed(f"'{param}' must be a string or a list of text parts", param=param)


def _parse(body: dict[str, Any], settings: Settings) -> tuple[ChatRequest, bool, bool, str]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed("'messages' must be a non-empty list", param="messages")
    system: list[str] = []
    turns: list[ChatMessage] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValidationFailed(f"'messages[{index}]' must be an object",
                                   param=f"messages[{index}]")
        role = message.get("role")
        text = _text(message.get("content"), f"messages[{index}].content").strip()
        if role in ("system", "developer"):
            system.append(text)
        elif role in ("user", "assistant"):
            turns.append(ChatMessage(role, text))
        else:
            raise ValidationFailed(f"'messages[{index}].role' {role!r} is not supported",
                                   param=f"messages[{index}].role")
    if not turns or turns[-1].role != "user" or not turns[-1].content:
        raise ValidationFailed("the last message must be a non-empty user message",
                               param="messages")
    question = turns[-1].content
    if len(question) > settings.max_message_chars:
        raise ValidationFailed(
            f"the user message has {len(question)} characters; the limit is "
            f"{settings.max_message_chars}", param="messages",
        )
    if len(turns) - 1 > settings.max_history_messages:
        raise ValidationFailed(
            f"{len(turns) - 1} earlier messages; the limit is {settings.max_history_messages}",
            param="messages",
        )
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                   or not 1 <= max_tokens <= 32_768):
        raise ValidationFailed("'max_tokens' must be an integer from 1 to 32768",
                               param="max_tokens")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ValidationFailed("'stream' must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ValidationFailed("'stream_options' must be an object", param="stream_options")
    requested_model = body.get("model", "auto")  # OpenAI requires it; we default to routing
    chat = ChatRequest(
        message=question,
        history=tuple(turns[:-1]),
        model_choice=model_choice(requested_model, settings),
        tenant=g.tenant,
        max_tokens=max_tokens,
        system_prompt="\n\n".join(system) or None,
    )
    return chat, stream, bool(options.get("include_usage")), str(requested_model)


def _failure_response(failure: UpstreamFailure) -> tuple[Response, int]:
    response = jsonify(error_body(failure.code, failure.message, "upstream_error"))
    if failure.retry_after:
        response.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
    return response, failure.http_status


class _Chunks:
    """Renders pipeline events as ``chat.completion.chunk`` objects."""

    def __init__(
        self, completion_id: str, model: str, include_usage: bool, must_stop: Callable[[], bool]
    ) -> None:
        self.completion_id = completion_id
        self.model = model
        self.include_usage = include_usage
        self.must_stop = must_stop
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        return format_data({
            "id": self.completion_id, "object": "chat.completion.chunk",
            "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })

    def render(self, first: list[PipelineEvent], rest: Iterator[PipelineEvent]) -> Iterator[str]:
        yield self.chunk({"role": "assistant", "content": ""})
        for event in _chain(first, rest):
            if self.must_stop() and not isinstance(event, Done | Failed):
                rest.close()
                yield format_data(error_body(SHUTTING_DOWN.code, SHUTTING_DOWN.message,
                                             "server_error"))
                return
            if isinstance(event, Token):
                yield self.chunk({"content": event.delta})
            elif isinstance(event, Keepalive):
                yield format_comment("ping")
            elif isinstance(event, Done):
                yield self.chunk({}, event.finish_reason)
                if self.include_usage:
                    yield format_data({
                        "id": self.completion_id, "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": _usage(event),
                    })
                yield format_data("[DONE]")
            elif isinstance(event, Failed):
                yield format_data(error_body(event.failure.code, event.failure.message,
                                             "upstream_error"))


def _chain(first: list[PipelineEvent], rest: Iterator[PipelineEvent]) -> Iterator[PipelineEvent]:
    yield from first
    yield from rest


def _usage(done: Done) -> dict[str, int]:
    return {
        "prompt_tokens": done.input_tokens,
        "completion_tokens": done.output_tokens,
        "total_tokens": done.input_tokens + done.output_tokens,
    }


@bp.post("/v1/chat/completions")
def chat_completions() -> Response | tuple[Response, int]:
    parts = components()
    chat, stream, include_usage, requested_model = _parse(
        read_json_body(request, parts.settings), parts.settings
    )
    parts.admission.admit()
    completion_id = f"chatcmpl-{g.request_id}"
    events = parts.pipeline.run(chat, g.request_id, "openai", g.timings)
    if stream:
        # Hold the headers until the answer starts, so an early failure gets a real status.
        first: list[PipelineEvent] = []
        for event in events:
            first.append(event)
            if isinstance(event, Failed):
                events.close()
                parts.admission.release()
                return _failure_response(event.failure)
            if isinstance(event, Token | Done):
                break
        model = next((e.model for e in first if isinstance(e, Meta)), requested_model)
        cache = next((e.cache for e in first if isinstance(e, Meta)), "miss")
        chunks = _Chunks(completion_id, model, include_usage, parts.admission.past_deadline)
        body = chunks.render(first, events)
        response = Response(stream_with_context(body), mimetype="text/event-stream",
                            headers={**SSE_HEADERS, "X-Cache": cache})
        response.call_on_close(parts.admission.release)
        return response
    try:
        answer = collect_answer(events)
    finally:
        parts.admission.release()
    if answer.failed is not None:
        return _failure_response(answer.failed.failure)
    assert answer.meta is not None and answer.done is not None
    response = jsonify({
        "id": completion_id, "object": "chat.completion", "created": int(time.time()),
        "model": answer.meta.model,
        "choices": [{
            "index": 0, "finish_reason": answer.done.finish_reason,
            "message": {"role": "assistant", "content": answer.text},
        }],
        "usage": _usage(answer.done),
    })
    response.headers["X-Cache"] = answer.meta.cache
    return response


@bp.get("/v1/models")
def list_models() -> Response:
    settings = components().settings
    names = ["auto", settings.fast_model, settings.smart_model]
    return jsonify({
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": "chatperf"}
                 for name in names],
    })
