"""Turning either chat API's body into a validated ``ChatRequest`` — or a clear 4xx.

Both wire formats (ours: ``message`` + ``history``; OpenAI's: ``messages``) are translated here
and then go through the same checks, so a limit can never hold on one route and not the other:
every text of every role is a string of valid Unicode within ``CHAT_MAX_MESSAGE_CHARS``, the
earlier messages of every role together stay within ``CHAT_MAX_HISTORY_MESSAGES``, and sampling
values are within the ranges the upstream accepts. Errors name the offending parameter.

Every text also loses the characters nobody sees (``service.invisible``) here, before anything
is keyed, stored or sent: the model then reads exactly what a person reading the conversation
sees, and the cache key covers it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.body import loads
from service.errors import ValidationFailed
from service.invisible import strip_invisible
from service.settings import Settings

__all__ = [
    "MODEL_CHOICES", "ChatMessage", "ChatRequest", "OpenAIOptions", "model_choice",
    "parse_chat_body", "parse_history_param", "parse_openai_body",
]

MODEL_CHOICES = ("auto", "fast", "smart")
_ROLES = ("user", "assistant", "system")
_MAX_TOKENS_LIMIT = 32_768
# Sampling parameters forwarded to the upstream, with the ranges OpenAI documents. Any of them
# changes the answer, so a request that sets one bypasses the cache (docs/cache.md).
_SAMPLING_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
# Accepted and ignored: they do not change the answer (``user`` is an end-user id for abuse
# tracking upstream, which we do not forward).
_IGNORED_OPENAI_FIELDS = frozenset({"user", "metadata", "store", "parallel_tool_calls"})


@dataclass(frozen=True)
class ChatMessage:
    """One earlier turn of the conversation."""

    role: str
    content: str

    def as_openai(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ChatRequest:
    """What the pipeline answers: the question, its context and the client's choices."""

    message: str
    history: tuple[ChatMessage, ...] = ()
    model_choice: str = "auto"
    session_id: str | None = None
    tenant: str = "public"
    max_tokens: int | None = None
    system_prompt: str | None = None  # a client's own system message (OpenAI route)
    sampling: tuple[tuple[str, Any], ...] = ()  # forwarded as is; bypasses the cache

    @property
    def has_client_context(self) -> bool:
        """Whether anything but the question shapes the answer: history or a system prompt."""
        return bool(self.history) or self.system_prompt is not None


@dataclass(frozen=True)
class OpenAIOptions:
    """What only the OpenAI-compatible route needs to know about how to answer."""

    stream: bool
    include_usage: bool
    requested_model: str


def _text(value: Any, settings: Settings, param: str, *, required: bool = True) -> str:
    """A message text: a string of valid Unicode within the length cap, without invisible
    characters or surrounding whitespace."""
    if not isinstance(value, str):
        raise ValidationFailed(f"'{param}' must be a string", param=param)
    if len(value) > settings.max_message_chars:
        raise ValidationFailed(
            f"'{param}' has {len(value)} characters; the limit is {settings.max_message_chars}",
            param=param,
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            f"'{param}' is not valid Unicode (it contains a lone surrogate)", param=param
        ) from None
    text = strip_invisible(value).strip()
    if required and not text:
        raise ValidationFailed(f"'{param}' must not be empty", param=param)
    return text


def _check_history_length(count: int, settings: Settings, param: str) -> None:
    if count > settings.max_history_messages:
        raise ValidationFailed(
            f"{count} earlier messages; the limit is {settings.max_history_messages}",
            param=param,
        )


def model_choice(value: Any, settings: Settings) -> str:
    """``auto``/``fast``/``smart``, or a configured model name mapped to its tier."""
    aliases = {settings.fast_model: "fast", settings.smart_model: "smart", "chatperf": "auto"}
    if isinstance(value, str) and (value in MODEL_CHOICES or value in aliases):
        return aliases.get(value, value)
    allowed = ", ".join([*MODEL_CHOICES, settings.fast_model, settings.smart_model])
    shown = value if isinstance(value, str | int | float | bool) else type(value).__name__
    raise ValidationFailed(f"unknown model {str(shown)[:64]!r}; choose one of {allowed}",
                           param="model")


# --- chatperf's own API: {message, history, model, session_id} ---------------------------------
def _history(value: Any, settings: Settings) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list):
        raise ValidationFailed("'history' must be a list of {role, content}", param="history")
    _check_history_length(len(value), settings, "history")
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
        turns.append(ChatMessage(role, _text(item.get("content"), settings, f"{param}.content")))
    return tuple(turns)


def parse_history_param(raw: str) -> Any:
    """``?history=`` of a GET stream: JSON text, parsed with the body's guards."""
    return loads(raw, "'history'", param="history")


def parse_chat_body(body: Mapping[str, Any], settings: Settings, tenant: str) -> ChatRequest:
    """Validate the body of ``/api/chat*``: message, history, model, session_id."""
    unknown = set(body) - {"message", "history", "model", "session_id"}
    if unknown:
        names = sorted(str(name)[:64] for name in unknown)
        raise ValidationFailed(f"unknown field(s): {', '.join(names)}", param=names[0])
    if "message" not in body:
        raise ValidationFailed("'message' is required", param="message")
    session_id = body.get("session_id")
    if "session_id" in body and (not isinstance(session_id, str) or len(session_id) > 128):
        raise ValidationFailed("'session_id' must be a string of at most 128 characters",
                               param="session_id")
    if session_id is not None:
        _text(session_id, settings, "session_id", required=False)
    return ChatRequest(
        message=_text(body["message"], settings, "message"),
        history=_history(body["history"], settings) if "history" in body else (),
        model_choice=model_choice(body["model"], settings) if "model" in body else "auto",
        session_id=session_id,
        tenant=tenant,
    )


# --- the OpenAI-compatible API: {model, messages, stream, ...} ----------------------------------
def _content(value: Any, settings: Settings, param: str) -> str:
    """A message's content: a string, or OpenAI's list of ``{"type": "text"}`` parts."""
    if isinstance(value, list):
        if not all(isinstance(part, dict) and part.get("type") == "text" for part in value):
            raise ValidationFailed(f"'{param}' must be a string or a list of text parts",
                                   param=param)
        texts = [_text(part.get("text"), settings, param, required=False) for part in value]
        value = "".join(texts)
    return _text(value, settings, param, required=False)


def _bounded_number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if (not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
            or not low <= value <= high):
        raise ValidationFailed(f"'{name}' must be a number from {low:g} to {high:g}", param=name)
    return float(value)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_TOKENS_LIMIT:
        raise ValidationFailed(f"'{name}' must be an integer from 1 to {_MAX_TOKENS_LIMIT}",
                               param=name)
    return value


def _sampling(body: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    chosen: list[tuple[str, Any]] = []
    for name, (low, high) in _SAMPLING_RANGES.items():
        value = _bounded_number(body, name, low, high)
        if value is not None:
            chosen.append((name, value))
    seed = body.get("seed")
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool) or abs(seed) >= 2**63:
            raise ValidationFailed("'seed' must be an integer", param="seed")
        chosen.append(("seed", seed))
    for name in ("top_k", "min_tokens"):  # vLLM's extensions, sent by its benchmark tools
        value = body.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or not -1 <= value <= 100_000:
                raise ValidationFailed(f"'{name}' must be an integer", param=name)
            chosen.append((name, value))
    if body.get("ignore_eos") is not None:
        if not isinstance(body["ignore_eos"], bool):
            raise ValidationFailed("'ignore_eos' must be a boolean", param="ignore_eos")
        if body["ignore_eos"]:
            chosen.append(("ignore_eos", True))
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if (not isinstance(stops, list) or len(stops) > 4
                or not all(isinstance(s, str) and 0 < len(s) <= 64 for s in stops)):
            raise ValidationFailed("'stop' must be a string or up to 4 strings", param="stop")
        chosen.append(("stop", tuple(stops)))
    return tuple(chosen)


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    n = body.get("n")
    if n is not None and n != 1:
        raise ValidationFailed("only 'n': 1 is supported (one choice per request)", param="n")
    if body.get("logprobs") not in (None, False):
        raise ValidationFailed("'logprobs' is not supported", param="logprobs")
    for name in ("tools", "functions", "tool_choice", "function_call", "response_format",
                 "logit_bias", "audio", "modalities", "prediction"):
        if body.get(name) is not None:
            raise ValidationFailed(f"'{name}' is not supported by this service", param=name)


def parse_openai_body(
    body: Mapping[str, Any], settings: Settings, tenant: str
) -> tuple[ChatRequest, OpenAIOptions]:
    """Validate a ``/v1/chat/completions`` body into a request and how to answer it."""
    _refuse_unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed("'messages' must be a non-empty list", param="messages")
    _check_history_length(len(messages) - 1, settings, "messages")
    system: list[str] = []
    turns: list[ChatMessage] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ValidationFailed(f"'{param}' must be an object", param=param)
        role = message.get("role")
        text = _content(message.get("content"), settings, f"{param}.content")
        if role in ("system", "developer"):
            system.append(text)
        elif role in ("user", "assistant"):
            turns.append(ChatMessage(role, text))
        else:
            shown = str(role)[:32] if isinstance(role, str) else type(role).__name__
            raise ValidationFailed(f"'{param}.role' {shown!r} is not supported",
                                   param=f"{param}.role")
    if not turns or turns[-1].role != "user" or not turns[-1].content:
        raise ValidationFailed("the last message must be a non-empty user message",
                               param="messages")
    system_prompt = "\n\n".join(system) or None
    if system_prompt is not None and len(system_prompt) > settings.max_message_chars:
        raise ValidationFailed(
            f"the system messages have {len(system_prompt)} characters together; the limit is "
            f"{settings.max_message_chars}", param="messages",
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ValidationFailed("'stream' must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ValidationFailed("'stream_options' must be an object", param="stream_options")
    unknown = set(body) - _KNOWN_OPENAI_FIELDS
    if unknown:
        names = sorted(str(name)[:64] for name in unknown)
        raise ValidationFailed(f"unsupported field(s): {', '.join(names)}", param=names[0])
    requested_model = body.get("model", "auto")  # OpenAI requires it; we default to routing
    chat = ChatRequest(
        message=turns[-1].content,
        history=tuple(turns[:-1]),
        model_choice=model_choice(requested_model, settings),
        tenant=tenant,
        max_tokens=_max_tokens(body),
        system_prompt=system_prompt,
        sampling=_sampling(body),
    )
    return chat, OpenAIOptions(stream, bool(options.get("include_usage")), str(requested_model))


_KNOWN_OPENAI_FIELDS = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "n", "logprobs", "seed", "stop", "top_k", "min_tokens", "ignore_eos",
    *_SAMPLING_RANGES, *_IGNORED_OPENAI_FIELDS,
})
