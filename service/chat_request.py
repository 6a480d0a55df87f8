"""Turning an HTTP request into a validated ``ChatRequest`` — or a clear 4xx.

Both chat APIs (ours and the OpenAI-compatible one) end up here, so limits and messages are the
same everywhere: body size (413, checked before the body is read), content type (415), JSON
(400), then fields (422) with the offending parameter named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request

from service.errors import InvalidJSON, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from service.settings import Settings

__all__ = ["MODEL_CHOICES", "ChatMessage", "ChatRequest", "parse_chat_body", "read_json_body"]

MODEL_CHOICES = ("auto", "fast", "smart")
_ROLES = ("user", "assistant", "system")


@dataclass(frozen=True)
class ChatMessage:
    """One earlier turn of the conversation."""

    role: str
    content: str

    def as_openai(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    """What the pipeline answers: the question, its context and the client's model choice."""

    message: str
    history: tuple[ChatMessage, ...] = ()
    model_choice: str = "auto"
    session_id: str | None = None
    tenant: str = "public"
    max_tokens: int | None = None
    system_prompt: str | None = None  # a client's own system message (OpenAI route)


def read_json_body(request: Request, settings: Settings) -> dict[str, Any]:
    """The body as a JSON object, refusing oversized, non-JSON and malformed bodies."""
    length = request.content_length
    if length is not None and length > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"request body is {length} bytes; the limit is {settings.max_body_bytes}"
        )
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {request.mimetype or 'no content type'})"
        )
    raw = request.get_data(cache=True)
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"request body exceeds the limit of {settings.max_body_bytes} bytes"
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidJSON("body must be a JSON object")
    return body


def _message_text(value: Any, settings: Settings, param: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"'{param}' must be a string", param=param)
    if len(value) > settings.max_message_chars:
        raise ValidationFailed(
            f"'{param}' has {len(value)} characters; the limit is {settings.max_message_chars}",
            param=param,
        )
    text = value.strip()
    if not text:
        raise ValidationFailed(f"'{param}' must not be empty", param=param)
    return text


def _history(value: Any, settings: Settings) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list):
        raise ValidationFailed("'history' must be a list of {role, content}", param="history")
    if len(value) > settings.max_history_messages:
        raise ValidationFailed(
            f"'history' has {len(value)} messages; the limit is {settings.max_history_messages}",
            param="history",
        )
    turns = []
    for index, item in enumerate(value):
        param = f"history[{index}]"
        if not isinstance(item, dict) or set(item) - {"role", "content"}:
            raise ValidationFailed(f"'{param}' must be an object {{role, content}}", param=param)
        role = item.get("role")
        if role not in _ROLES:
            raise ValidationFailed(
                f"'{param}.role' must be one of {', '.join(_ROLES)}", param=f"{param}.role"
            )
        turns.append(ChatMessage(role, _message_text(item.get("content"), settings,
                                                     f"{param}.content")))
    return tuple(turns)


def model_choice(value: Any, settings: Settings) -> str:
    """``auto``/``fast``/``smart``, or a configured model name mapped to its tier."""
    aliases = {settings.fast_model: "fast", settings.smart_model: "smart", "chatperf": "auto"}
    if isinstance(value, str) and (value in MODEL_CHOICES or value in aliases):
        return aliases.get(value, value)
    allowed = ", ".join([*MODEL_CHOICES, settings.fast_model, settings.smart_model])
    raise ValidationFailed(f"unknown model {value!r}; choose one of {allowed}", param="model")


def parse_chat_body(body: dict[str, Any], settings: Settings, tenant: str) -> ChatRequest:
    """Validate the body of ``/api/chat*``: message, history, model, session_id."""
    unknown = set(body) - {"message", "history", "model", "session_id"}
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(sorted(unknown))}",
                               param=sorted(unknown)[0])
    if "message" not in body:
        raise ValidationFailed("'message' is required", param="message")
    session_id = body.get("session_id")
    if "session_id" in body and (not isinstance(session_id, str) or len(session_id) > 128):
        raise ValidationFailed("'session_id' must be a string of at most 128 characters",
                               param="session_id")
    return ChatRequest(
        message=_message_text(body["message"], settings, "message"),
        history=_history(body["history"], settings) if "history" in body else (),
        model_choice=model_choice(body["model"], settings) if "model" in body else "auto",
        session_id=session_id,
        tenant=tenant,
    )
