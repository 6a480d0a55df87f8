"""The simulator's HTTP routes: OpenAI's chat completions and models, plus stats and health.

``build_app(config)`` is what ``serve`` runs and what tests may drive in-process. The route
validates like OpenAI does, decides the answer (``Job``) on arrival, and hands the timing to
``completion``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from . import embeddings
from .completion import Job, Playback, stream_body, wait_for_answer
from .config import SimulatorConfig
from .connection import SOCKET_ENVIRON_KEY, ClientConnection
from .faults import FAULT_KINDS, NO_FAULT, STATUS_FAULTS, FaultPicker
from .latency import plan
from .profiles import DEFAULT_MODELS, model_tier
from .stats import SimStats
from .text import answer_tokens, count_prompt_tokens, message_text, obeyed_instruction, tokenize
from .wire import Completion, error_body

__all__ = ["MAX_OUTPUT_TOKENS", "BadRequest", "build_app"]

MAX_OUTPUT_TOKENS = 16384
_CREATED = 1_700_000_000  # "created" of the listed models: a fixed, plausible epoch

_log = logging.getLogger("loadtests.simulator")


class BadRequest(Exception):
    """Raised when a request is malformed; answered 400 in OpenAI's error shape."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error(status: int, message: str, type_: str, code: str | None = None,
           param: str | None = None) -> Response:
    response = jsonify(error_body(message, type_, code, param))
    response.status_code = status
    return response


def _int_header(name: str, low: int, high: int) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        value = int(float(raw))
    except ValueError:
        raise BadRequest(f"header {name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"header {name} must be between {low} and {high}")
    return value


def _positive_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"{key} must be a positive integer", key)
    return value


def _parse_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages
    ):
        raise BadRequest("messages must be a non-empty array of {role, content} objects",
                         "messages")
    if not isinstance(body.get("stream", False), bool):
        raise BadRequest("stream must be a boolean", "stream")
    return body


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    user = [m for m in messages if m.get("role") == "user"]
    return message_text(user[-1]) if user else ""


def _request_rng_seed(seed: int, body: dict[str, Any]) -> bytes:
    # The answer depends on what was asked, not on how (stream flag, limits), so stream and
    # non-stream calls of one question get the same schedule. A request's own ``seed`` asks for
    # another sample.
    asked = [seed, body["model"], body["messages"]]
    if body.get("seed") is not None:
        asked.append(body["seed"])
    content = json.dumps(asked, sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).digest()


def _sample_seed(body: dict[str, Any]) -> int | None:
    seed = body.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def build_app(config: SimulatorConfig) -> Flask:
    """The simulator as a WSGI app, with its own stats and fault draws."""
    app = Flask("loadtests.simulator")
    stats = SimStats()
    faults = FaultPicker(config.fault_rates, config.seed)
    app.extensions["simulator_stats"] = stats
    app.register_blueprint(embeddings.bp)

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Response:
        return _error(400, str(exc), "invalid_request_error", None, exc.param)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name, "invalid_request_error",
                      exc.name.lower().replace(" ", "_"))

    @app.post("/v1/chat/completions")
    def chat_completions() -> Response:
        arrived = time.monotonic()
        request_id = f"sim-{stats.request_arrived(request.headers.get('traceparent'))}"
        body = _parse_body()
        forced = request.headers.get("X-Sim-Fault")
        if forced is not None and forced not in (*FAULT_KINDS, NO_FAULT):
            raise BadRequest(f"X-Sim-Fault must be one of {', '.join(FAULT_KINDS)} or none")
        ttft_override = _int_header("X-Sim-TTFT-Ms", 0, 3_600_000)
        if ttft_override is None:
            ttft_override = config.ttft_ms
        length_override = _int_header("X-Sim-Output-Tokens", 1, MAX_OUTPUT_TOKENS)
        if length_override is None:
            length_override = config.output_tokens
        question = _last_user_text(body["messages"])
        echoed = tokenize(question)[:MAX_OUTPUT_TOKENS] if config.echo else None
        if echoed and length_override is None:
            length_override = len(echoed)
        max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(
            body, "max_tokens")

        model = body["model"]
        rng = random.Random(_request_rng_seed(config.seed, body))
        schedule = plan(config.profile, model_tier(model), rng, ttft_ms=ttft_override,
                        itl_ms=config.itl_ms, output_tokens=length_override)
        finish_reason = "stop"
        if max_tokens is not None and max_tokens < schedule.tokens:
            schedule, finish_reason = schedule.truncated(max_tokens), "length"
        fault = faults.pick(forced)
        headers = {"X-Sim-Request-Id": request_id, "x-request-id": request_id,
                   "X-Sim-TTFT-Ms": str(round(schedule.ttft_s * 1000))}
        if fault is not None:
            stats.fault_injected(fault)
        if fault in STATUS_FAULTS:
            spec = STATUS_FAULTS[fault]
            response = _error(spec.status, spec.message, spec.type, spec.code)
            response.headers.update(headers)
            if spec.retry_after_seconds is not None:
                response.headers["Retry-After"] = str(spec.retry_after_seconds)
            _log.info("POST /v1/chat/completions status=%d model=%s outcome=fault:%s id=%s",
                      spec.status, model, fault, request_id)
            return response

        completion = Completion(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}", model=model, created=int(time.time()),
            prompt_tokens=count_prompt_tokens(body["messages"]),
        )
        stream = bool(body.get("stream", False))
        stream_options = body.get("stream_options") or {}
        job = Job(
            request_id=request_id, completion=completion, schedule=schedule,
            tokens=echoed[:schedule.tokens] if echoed else answer_tokens(
                question, schedule.tokens, complete=finish_reason == "stop",
                instruction=obeyed_instruction(body["messages"]), seed=_sample_seed(body)),
            finish_reason=finish_reason, fault=fault, arrived=arrived,
            include_usage=stream and bool(stream_options.get("include_usage")),
        )
        play = Playback(job, ClientConnection(request.environ.get(SOCKET_ENVIRON_KEY)), stats,
                        config.stall_seconds, stream)
        if stream:
            headers["Cache-Control"] = "no-cache"
            return Response(stream_body(play), mimetype="text/event-stream", headers=headers)
        answer = wait_for_answer(play)
        if answer is None:  # nobody to answer: the client left or the connection was cut
            return Response(status=499, headers=headers)
        response = jsonify(answer[1])
        response.status_code = answer[0]
        response.headers.update(headers)
        return response

    @app.get("/v1/models")
    def list_models() -> Response:
        return jsonify({"object": "list", "data": [_model(name) for name in DEFAULT_MODELS]})

    @app.get("/v1/models/<path:name>")
    def get_model(name: str) -> Response:
        return jsonify(_model(name))  # every name is accepted, as in chat completions

    @app.get("/sim/stats")
    def sim_stats() -> Response:
        return jsonify({"profile": config.profile_name, "seed": config.seed, **stats.snapshot()})

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    return app


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "chatperf-simulator"}
