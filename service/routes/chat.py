"""chatperf's own chat API: the SSE stream, the instant cache check and the one-shot JSON answer.

Views validate, then hand the pipeline's events to a renderer. Streaming views set their headers
before the first byte and wrap the generator in ``stream_with_context`` so the request (and its
server span) lives until the last event is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from service.chat_request import ChatRequest, parse_chat_body, read_json_body
from service.components import components
from service.errors import SHUTTING_DOWN, ValidationFailed, error_body
from service.pipeline import (
    Done,
    Failed,
    Keepalive,
    Meta,
    PipelineEvent,
    Token,
    collect_answer,
)
from service.sse import format_comment, format_event

__all__ = ["SSE_HEADERS", "bp", "render_sse"]

bp = Blueprint("chat", __name__)

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def _request_from_query() -> ChatRequest:
    """``GET ?message=…&model=…`` for browser ``EventSource``, which cannot POST."""
    body: dict[str, Any] = {"message": request.args.get("message", "")}
    if "model" in request.args:
        body["model"] = request.args["model"]
    if "session_id" in request.args:
        body["session_id"] = request.args["session_id"]
    if "history" in request.args:
        try:
            body["history"] = json.loads(request.args["history"])
        except ValueError:
            raise ValidationFailed("'history' must be a JSON list", param="history") from None
    return parse_chat_body(body, components().settings, g.tenant)


def _chat_request() -> ChatRequest:
    settings = components().settings
    if request.method == "GET":
        return _request_from_query()
    return parse_chat_body(read_json_body(request, settings), settings, g.tenant)


def render_sse(
    events: Iterator[PipelineEvent], must_stop: Callable[[], bool] = lambda: False
) -> Iterator[str]:
    """``meta → token… → done`` (or ``error``), with ``: ping`` while waiting.

    ``must_stop`` is checked after every event: when the shutdown grace is over the stream
    ends with an ``error`` event instead of being cut silently.
    """
    for event in events:
        if must_stop() and not isinstance(event, Done | Failed):
            events.close()
            yield format_event("error", SHUTTING_DOWN.event_data())
            return
        if isinstance(event, Token):
            yield format_event("token", {"delta": event.delta})
        elif isinstance(event, Meta):
            yield format_event("meta", event.as_dict())
        elif isinstance(event, Keepalive):
            yield format_comment("ping")
        elif isinstance(event, Done):
            yield format_event("done", event.as_dict())
        elif isinstance(event, Failed):
            yield format_event("error", event.failure.event_data())


@bp.route("/api/chat/stream", methods=["GET", "POST"])
def chat_stream() -> Response:
    chat = _chat_request()
    parts = components()
    parts.admission.admit()
    events = parts.pipeline.run(chat, g.request_id, "stream", g.timings)
    response = Response(
        stream_with_context(render_sse(events, parts.admission.past_deadline)),
        mimetype="text/event-stream",
        headers=SSE_HEADERS,
    )
    # The WSGI server closes every response, even one whose body never started.
    response.call_on_close(parts.admission.release)
    return response


@bp.route("/api/chat/quick", methods=["GET", "POST"])
def chat_quick() -> Response:
    """Answer from the cache at once, or say there is nothing; never calls the upstream."""
    chat = _chat_request()
    hit = components().pipeline.quick(chat)
    if hit is None:
        return jsonify({"hit": False})
    return jsonify({
        "hit": True, "answer": hit.entry.answer, "tier": hit.tier,
        "similarity": round(hit.similarity, 4), "model": hit.entry.model,
    })


@bp.post("/api/chat")
def chat_json() -> Response | tuple[Response, int]:
    """The same pipeline, answered as one JSON document."""
    chat = _chat_request()
    parts = components()
    parts.admission.admit()
    try:
        answer = collect_answer(parts.pipeline.run(chat, g.request_id, "json", g.timings))
    finally:
        parts.admission.release()
    if answer.failed is not None:
        failure = answer.failed.failure
        response = jsonify(error_body(failure.code, failure.message, "upstream_error"))
        if failure.retry_after:
            response.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
        return response, failure.http_status
    assert answer.meta is not None and answer.done is not None
    return jsonify({**answer.meta.as_dict(), "answer": answer.text, **answer.done.as_dict()})
