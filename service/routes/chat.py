"""chatperf's own chat API: the SSE stream, the instant cache check and the one-shot JSON answer.

Views validate (``service.chat_request``), then hand the answer to ``Answer``, which renders it
with ``SSERenderer`` or collects it into one JSON document.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, jsonify

from service.body import read_json_body
from service.chat_request import ChatRequest, parse_chat_body, parse_history_param
from service.components import components
from service.errors import UpstreamFailure, error_body
from service.events import Done, Failed, Keepalive, Meta, PipelineEvent, Tokens
from service.request_context import bound_g, bound_request
from service.routes.answering import Answer, ClientGone
from service.sse import format_comment, format_event, format_token

__all__ = ["SSERenderer", "bp"]

bp = Blueprint("chat", __name__)


def _chat_request() -> ChatRequest:
    settings = components().settings
    bound = bound_request()
    if bound.method == "GET":
        # ``GET ?message=…`` for browser ``EventSource``, which cannot POST.
        args = bound.args
        body: dict[str, Any] = {k: args[k] for k in ("message", "model", "session_id")
                                if k in args}
        body.setdefault("message", "")
        if "history" in args:
            body["history"] = parse_history_param(args["history"])
    else:
        body = read_json_body(bound, settings.max_body_bytes, settings.body_timeout_seconds)
    return parse_chat_body(body, settings, bound_g().tenant)


class SSERenderer:
    """``meta → token… → done`` (or ``error``), with ``: ping`` while waiting."""

    def render(self, events: Iterator[PipelineEvent]) -> Iterator[bytes]:
        for event in events:
            if isinstance(event, Tokens):
                yield b"".join(map(format_token, event.deltas))
            elif isinstance(event, Keepalive):
                yield format_comment("ping")
            elif isinstance(event, Meta):
                yield format_event("meta", event.as_dict())
            elif isinstance(event, Done):
                yield format_event("done", event.as_dict())
            elif isinstance(event, Failed):
                yield self.failure(event.failure)

    def failure(self, failure: UpstreamFailure) -> bytes:
        return format_event("error", failure.event_data())


@bp.route("/api/chat/stream", methods=["GET", "POST"])
def chat_stream() -> Response:
    chat = _chat_request()
    return Answer(components(), chat, "stream").stream(SSERenderer())


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
    try:
        answer = Answer(components(), chat, "json").collect()
    except ClientGone:
        return Response(status=499)  # nobody reads it: nginx's "client closed request"
    if answer.failed is not None:
        failure = answer.failed.failure
        response = jsonify(error_body(failure.code, failure.message, "upstream_error"))
        if failure.retry_after:
            response.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
        return response, failure.http_status
    assert answer.meta is not None and answer.done is not None
    return jsonify({**answer.meta.as_dict(), "answer": answer.text, **answer.done.as_dict()})
