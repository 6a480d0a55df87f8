"""Upstream faults become clear, final answers: an SSE ``error`` event, never a false ``done``."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.reliability.conftest import FAST_FAILING, sim_stats
from tests.support import stream_chat

# fault → the code the client sees, and whether the service retried it before the first token
FAULTS = [
    ("status-429", "upstream_rate_limited", True),
    ("status-503", "upstream_unavailable", True),
    ("stall-first-token", "upstream_timeout", True),
    ("stall-mid-stream", "upstream_timeout", False),
    ("cut-mid-stream", "upstream_interrupted", False),
    ("error-chunk", "upstream_error", False),
]


@pytest.mark.parametrize(("fault", "code", "retried"), FAULTS)
def test_a_fault_ends_the_stream_with_an_error_event(
    start_faulty_simulator, start_chat_service, fault: str, code: str, retried: bool
) -> None:
    simulator = start_faulty_simulator(fault)
    service = start_chat_service(simulator.url, **FAST_FAILING)
    question = {"message": f"Tell me about plan limits ({fault})"}

    response, events = stream_chat(service.url, question)

    names = [event.event for event in events]
    assert response.status_code == 200
    assert names[0] == "meta" and names[-1] == "error" and "done" not in names
    error = events[-1].json()
    assert error["code"] == code and error["message"] and error["retryable"] is True
    # One retry layer: a retried fault reached the upstream exactly twice (1 retry allowed).
    assert sim_stats(simulator)["requests"] == (2 if retried else 1)
    # A failed or partial answer is never cached.
    quick = httpx.post(f"{service.url}/api/chat/quick", json=question).json()
    assert quick == {"hit": False}


def test_a_retry_that_succeeds_is_invisible_to_the_client(
    start_faulty_simulator, start_chat_service
) -> None:
    simulator = start_faulty_simulator("status-503:0.5")
    service = start_chat_service(simulator.url, **{**FAST_FAILING,
                                                   "CHAT_UPSTREAM_MAX_RETRIES": "6"})
    for index in range(6):
        _, events = stream_chat(service.url, {"message": f"Question {index} about exports"})
        assert events[-1].event == "done"
    stats = sim_stats(simulator)
    assert stats["faults_injected"].get("status-503", 0) >= 1
    assert stats["requests"] == 6 + stats["faults_injected"]["status-503"]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("status-429", 429, "upstream_rate_limited"), ("status-503", 502, "upstream_unavailable"),
     ("stall-first-token", 504, "upstream_timeout")],
)
def test_openai_route_answers_early_faults_with_a_real_status(
    start_faulty_simulator, start_chat_service, fault: str, status: int, code: str
) -> None:
    simulator = start_faulty_simulator(fault)
    service = start_chat_service(simulator.url, **FAST_FAILING)
    client = openai.OpenAI(base_url=f"{service.url}/v1", api_key="unused", max_retries=0)
    for stream in (True, False):
        with pytest.raises(openai.APIStatusError) as caught:
            result = client.chat.completions.create(
                model="auto", stream=stream, messages=[{"role": "user", "content": "Hi there"}]
            )
            if stream:
                list(result)
        assert caught.value.status_code == status
        assert caught.value.body["code"] == code
        if status == 429:
            assert caught.value.response.headers["retry-after"]


@pytest.mark.parametrize("fault", ["cut-mid-stream", "error-chunk"])
def test_openai_route_reports_a_mid_stream_fault_in_band(
    start_faulty_simulator, start_chat_service, fault: str
) -> None:
    simulator = start_faulty_simulator(fault)
    service = start_chat_service(simulator.url, **FAST_FAILING)
    client = openai.OpenAI(base_url=f"{service.url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="auto", stream=True, messages=[{"role": "user", "content": "Tell me a story"}]
    )
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received, "the client saw the tokens sent before the fault"


@pytest.mark.parametrize("transport", ["lean", "httpx"])
def test_an_answer_whose_connection_drops_after_done_is_complete(
    start_faulty_simulator, start_chat_service, transport: str
) -> None:
    # The upstream sends the whole answer and [DONE], then drops the connection before the
    # body's last chunk (a proxy closing streams abruptly). Everything the answer needs arrived:
    # the client gets it with ``done``, it is cached, and nothing counts as an upstream error.
    simulator = start_faulty_simulator("cut-after-done")
    service = start_chat_service(simulator.url, **FAST_FAILING,
                                 CHAT_UPSTREAM_TRANSPORT=transport)
    for index in range(5):
        question = {"message": f"What does plan {index} include?"}
        response, events = stream_chat(service.url, question)
        names = [event.event for event in events]
        assert response.status_code == 200
        assert names[-1] == "done" and "error" not in names, events[-1].data
        quick = httpx.post(f"{service.url}/api/chat/quick", json=question).json()
        assert quick["hit"] is True
    assert sim_stats(simulator)["requests"] == 5  # complete answers: none retried
