"""The service's OpenAPI description, served at ``/openapi.json``.

Built from the same settings and constants the validators use (message and history limits,
model choices), so the description cannot drift from what the service accepts. Schemathesis
fuzzes the service against it in the test suite.
"""

from __future__ import annotations

from typing import Any

from service import __version__
from service.chat_request import MODEL_CHOICES
from service.settings import Settings

__all__ = ["build_openapi"]

_TEXT = {"type": "string", "pattern": r"\S"}


def _error_responses(*statuses: int) -> dict[str, Any]:
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    described = {
        400: "malformed JSON or chunked framing (on /v1: any malformed or unsupported request,"
             " as OpenAI answers)",
        401: "missing or wrong API key", 408: "the body did not arrive in time",
        413: "body too large",
        415: "not application/json", 422: "a field is missing, empty, too long or unknown",
        429: "rate limited (Retry-After)", 502: "the upstream failed",
        503: "overloaded or shutting down (Retry-After)", 504: "the upstream timed out",
    }
    return {str(code): {"description": described[code], "content": ref} for code in statuses}


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``settings``' limits."""
    message = {**_TEXT, "maxLength": settings.max_message_chars}
    models = [*MODEL_CHOICES, settings.fast_model, settings.smart_model, "chatperf"]
    chat_body = {
        "type": "object",
        "additionalProperties": False,
        "required": ["message"],
        "properties": {
            "message": message,
            "history": {
                "type": "array", "maxItems": settings.max_history_messages,
                "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["role", "content"],
                    "properties": {"role": {"enum": ["user", "assistant", "system"]},
                                   "content": message},
                },
            },
            "model": {"enum": models},
            "session_id": {"type": "string", "maxLength": 128},
        },
    }
    json_body = {"required": True, "content": {"application/json": {"schema": chat_body}}}
    query = [
        {"name": "message", "in": "query", "required": True, "schema": message},
        {"name": "model", "in": "query", "required": False, "schema": {"enum": models}},
    ]
    sse = {"description": "meta → token… → done, or error",
           "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    json_ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    chat_errors = _error_responses(400, 401, 408, 413, 415, 422, 429, 503)
    openai_errors = _error_responses(400, 401, 408, 413, 415, 429, 503, 502, 504)
    number = {"type": "number"}
    openai_message = {
        "type": "object", "required": ["role", "content"],
        "properties": {
            "role": {"enum": ["system", "developer", "user", "assistant"]},
            "content": {"oneOf": [
                {"type": "string", "maxLength": settings.max_message_chars},
                {"type": "array", "items": {
                    "type": "object", "required": ["type", "text"],
                    "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
                }},
            ]},
        },
    }
    completions_body = {
        "type": "object", "required": ["messages"],
        "properties": {
            "model": {"enum": models},
            "messages": {"type": "array", "minItems": 1, "items": openai_message},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object"},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": 32768},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 32768},
            # Sampling parameters: forwarded to the upstream; they bypass the cache.
            "temperature": {**number, "minimum": 0, "maximum": 2},
            "top_p": {**number, "minimum": 0, "maximum": 1},
            "presence_penalty": {**number, "minimum": -2, "maximum": 2},
            "frequency_penalty": {**number, "minimum": -2, "maximum": 2},
            "seed": {"type": "integer"},
            "stop": {"oneOf": [{"type": "string"},
                               {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
            "n": {"const": 1},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatperf", "version": __version__,
                 "description": "Streaming chat service with a semantic answer cache."},
        "paths": {
            "/api/chat/stream": {
                "post": {"summary": "Stream an answer (SSE)", "requestBody": json_body,
                         "responses": {"200": sse, **chat_errors}},
                "get": {"summary": "Stream an answer (SSE) for EventSource", "parameters": query,
                        "responses": {"200": sse, **chat_errors}},
            },
            "/api/chat/quick": {
                "post": {"summary": "Cached answer or nothing", "requestBody": json_body,
                         "responses": {"200": json_ok, **chat_errors}},
                "get": {"summary": "Cached answer or nothing", "parameters": query,
                        "responses": {"200": json_ok, **chat_errors}},
            },
            "/api/chat": {
                "post": {"summary": "One JSON answer", "requestBody": json_body,
                         "responses": {"200": json_ok, **chat_errors,
                                       **_error_responses(502, 504)}},
            },
            "/v1/chat/completions": {
                "post": {
                    "summary": "OpenAI-compatible chat completions",
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": completions_body}}},
                    "responses": {"200": {"description": "completion or chunk stream", "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "text/event-stream": {"schema": {"type": "string"}}}},
                        **openai_errors},
                },
            },
            "/v1/models": {"get": {"summary": "Models", "responses": {"200": json_ok}}},
            "/api/cache/stats": {"get": {"summary": "Cache figures",
                                         "responses": {"200": json_ok}}},
            "/api/openai/stats": {"get": {"summary": "Upstream figures",
                                          "responses": {"200": json_ok}}},
            "/": {"get": {"summary": "The chat page", "responses": {"200": {
                "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
            "/api/client/timings": {"post": {
                "summary": "The chat page's timing beacon (first and last paint)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": False,
                    "required": ["first_paint_ms", "cache"],
                    "properties": {"first_paint_ms": {**number, "minimum": 0},
                                   "last_paint_ms": {**number, "minimum": 0},
                                   "cache": {"enum": ["hit", "miss"]}}}}}},
                "responses": {"204": {"description": "recorded"},
                              **_error_responses(400, 413, 415, 422, 429)}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": json_ok}}},
            "/health": {"get": {"summary": "Liveness, where vLLM-style clients look for it",
                                "responses": {"200": json_ok}}},
            "/readyz": {"get": {"summary": "Readiness", "responses": {
                "200": json_ok, "503": {"description": "not ready", "content": {
                    "application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
                "description": "text exposition",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error"],
            "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                               "type": {"type": "string"},
                               "param": {"type": ["string", "null"]}},
            }},
        }}},
    }
