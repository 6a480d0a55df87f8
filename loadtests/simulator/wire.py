"""The OpenAI chat-completions wire format: response objects, stream chunks, SSE lines, errors.

Everything a client parses is built here, in the shapes the official ``openai`` SDK expects, so
the rest of the simulator deals in tokens and timings rather than JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DONE",
    "Completion",
    "error_body",
    "sse",
]

DONE = b"data: [DONE]\n\n"

_FINGERPRINT = "fp_chatperf_sim"


def sse(payload: dict[str, Any]) -> bytes:
    """One server-sent event carrying ``payload`` as JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    """The OpenAI error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


@dataclass(frozen=True)
class Completion:
    """Identity of one answer; builds every object that carries it."""

    id: str
    model: str
    created: int
    prompt_tokens: int

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }

    def usage(self, completion_tokens: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def role_chunk(self, with_usage: bool) -> dict[str, Any]:
        """The first chunk: the assistant role and empty content, as OpenAI sends it."""
        return self._with_usage(self._chunk({"role": "assistant", "content": ""}, None), with_usage)

    def content_chunk(self, token: str, with_usage: bool) -> dict[str, Any]:
        return self._with_usage(self._chunk({"content": token}, None), with_usage)

    def finish_chunk(self, finish_reason: str, with_usage: bool) -> dict[str, Any]:
        return self._with_usage(self._chunk({}, finish_reason), with_usage)

    def usage_chunk(self, completion_tokens: int) -> dict[str, Any]:
        """Sent last when ``stream_options.include_usage`` is set: no choices, the usage."""
        chunk = self._chunk({}, None)
        chunk["choices"] = []
        chunk["usage"] = self.usage(completion_tokens)
        return chunk

    @staticmethod
    def _with_usage(chunk: dict[str, Any], with_usage: bool) -> dict[str, Any]:
        # With include_usage, OpenAI sends "usage": null on every chunk before the last.
        if with_usage:
            chunk["usage"] = None
        return chunk

    def response(self, content: str, finish_reason: str, completion_tokens: int) -> dict[str, Any]:
        """The non-streamed ``chat.completion`` object."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": self.usage(completion_tokens),
            "service_tier": "default",
        }
