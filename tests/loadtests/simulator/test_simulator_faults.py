"""Faults as a client sees them on the wire, and ``/sim/stats`` seeing clients leave."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from loadtests.processes import ManagedProcess
from tests.loadtests.simulator.sim_helpers import (
    chat_body,
    contents,
    data_events,
    sim_stats,
    wait_for_stats,
)

URL = "/v1/chat/completions"


def read_lines(response: httpx.Response) -> tuple[list[str], Exception | None]:
    """Every line the stream delivered, and the error that ended it, if any."""
    lines: list[str] = []
    try:
        lines.extend(response.iter_lines())
    except httpx.HTTPError as exc:
        return lines, exc
    return lines, None


def test_headers_report_request_id_and_scheduled_ttft(simulator: ManagedProcess) -> None:
    response = httpx.post(simulator.url + URL, json=chat_body(stream=False), timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Sim-Request-Id"].startswith("sim-")
    assert 0 <= int(response.headers["X-Sim-TTFT-Ms"]) < 500


def test_forced_ttft_is_reported_and_kept(simulator: ManagedProcess) -> None:
    headers = {"X-Sim-TTFT-Ms": "400", "X-Sim-Output-Tokens": "5"}
    started = time.monotonic()
    with httpx.stream("POST", simulator.url + URL, json=chat_body(), headers=headers,
                      timeout=10) as response:
        assert response.headers["X-Sim-TTFT-Ms"] == "400"
        first_content_at = None
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if first_content_at is None and contents(data_events([line])):
                first_content_at = time.monotonic() - started
    assert first_content_at is not None
    assert 0.4 <= first_content_at < 3.0  # never early; late only by generous scheduling slack
    assert len(contents(data_events(lines))) == 5


def test_output_tokens_header_sets_the_length(simulator: ManagedProcess) -> None:
    body = chat_body(stream_options={"include_usage": True})
    with httpx.stream("POST", simulator.url + URL, json=body,
                      headers={"X-Sim-Output-Tokens": "17"}, timeout=10) as response:
        events = data_events(list(response.iter_lines()))
    assert len(contents(events)) == 17
    assert events[-2]["usage"]["completion_tokens"] == 17
    assert events[-1] == "[DONE]"


def test_status_429_carries_retry_after_and_rate_limit_type(simulator: ManagedProcess) -> None:
    response = httpx.post(simulator.url + URL, json=chat_body(),
                          headers={"X-Sim-Fault": "status-429"}, timeout=10)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["type"] == "rate_limit_exceeded"


def test_cut_mid_stream_breaks_the_response_after_a_few_tokens(
    simulator: ManagedProcess,
) -> None:
    with httpx.stream("POST", simulator.url + URL, json=chat_body(),
                      headers={"X-Sim-Fault": "cut-mid-stream"}, timeout=10) as response:
        assert response.status_code == 200
        lines, error = read_lines(response)
    assert isinstance(error, httpx.RemoteProtocolError)
    events = data_events(lines)
    assert len(contents(events)) == 3
    assert "[DONE]" not in events


def test_error_chunk_ends_a_200_stream_with_an_error_object(simulator: ManagedProcess) -> None:
    with httpx.stream("POST", simulator.url + URL, json=chat_body(),
                      headers={"X-Sim-Fault": "error-chunk"}, timeout=10) as response:
        lines, error = read_lines(response)
    assert response.status_code == 200
    assert error is None
    events = data_events(lines)
    assert set(events[-1]["error"]) == {"message", "type", "code", "param"}
    assert len(contents(events)) == 3
    assert "[DONE]" not in events


@pytest.mark.parametrize(("fault", "tokens"), [("stall-first-token", 0), ("stall-mid-stream", 3)])
def test_stalls_go_silent_then_cut_at_the_stall_limit(
    start_sim: Callable[..., ManagedProcess], fault: str, tokens: int
) -> None:
    sim = start_sim("fast", ["--stall-seconds", "1.5"])
    with httpx.stream("POST", sim.url + URL, json=chat_body(), headers={"X-Sim-Fault": fault},
                      timeout=httpx.Timeout(10, read=0.8)) as response:
        lines, error = read_lines(response)
    assert isinstance(error, httpx.ReadTimeout)  # silence after the last token
    assert len(contents(data_events(lines))) == tokens
    with httpx.stream("POST", sim.url + URL, json=chat_body(), headers={"X-Sim-Fault": fault},
                      timeout=10) as response:
        lines, error = read_lines(response)
    assert isinstance(error, httpx.RemoteProtocolError)  # ended by the stall limit, not [DONE]
    assert "[DONE]" not in data_events(lines)
    assert sim_stats(sim)["faults_injected"] == {fault: 2}


@pytest.mark.parametrize(
    ("fault", "headers"),
    [
        ("stall-first-token", {"X-Sim-Fault": "stall-first-token"}),
        ("mid-stream", {"X-Sim-TTFT-Ms": "0", "X-Sim-Output-Tokens": "16000"}),
    ],
)
def test_client_leaving_is_counted_as_cancelled_promptly(
    simulator: ManagedProcess, fault: str, headers: dict[str, str]
) -> None:
    before = sim_stats(simulator)
    with httpx.stream("POST", simulator.url + URL, json=chat_body(), headers=headers,
                      timeout=10) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")  # the role chunk: the request is in flight
        during = sim_stats(simulator)
    # Leaving the block closed the connection mid-stream.
    after = wait_for_stats(
        simulator, lambda s: s["cancelled_streams"] > before["cancelled_streams"], 3.0
    )
    assert during["open_streams"] == before["open_streams"] + 1
    assert after["cancelled_streams"] == before["cancelled_streams"] + 1
    assert after["open_streams"] == before["open_streams"]
    assert after["completed_streams"] == before["completed_streams"]


def test_command_line_fault_applies_and_header_none_overrides(
    start_sim: Callable[..., ManagedProcess],
) -> None:
    sim = start_sim("fast", ["--fault", "status-503"])
    assert httpx.post(sim.url + URL, json=chat_body(), timeout=10).status_code == 503
    spared = httpx.post(sim.url + URL, json=chat_body(), headers={"X-Sim-Fault": "none"},
                        timeout=10)
    assert spared.status_code == 200


def test_command_line_ttft_pins_every_answer_but_a_header_wins(
    start_sim: Callable[..., ManagedProcess],
) -> None:
    sim = start_sim("seed", ["--ttft-ms", "0"])
    headers = {"X-Sim-Output-Tokens": "1"}
    pinned = [
        httpx.post(sim.url + URL, json=chat_body(stream=False, messages=[
            {"role": "user", "content": f"question {i}"}]), headers=headers, timeout=10)
        for i in range(3)
    ]
    assert [r.headers["X-Sim-TTFT-Ms"] for r in pinned] == ["0", "0", "0"]
    overridden = httpx.post(sim.url + URL, json=chat_body(stream=False),
                            headers={**headers, "X-Sim-TTFT-Ms": "20"}, timeout=10)
    assert overridden.headers["X-Sim-TTFT-Ms"] == "20"


def test_fault_rate_hits_a_share_of_requests(start_sim: Callable[..., ManagedProcess]) -> None:
    sim = start_sim("instant", ["--fault", "status-429:0.5", "--seed", "3"])
    statuses = [
        httpx.post(sim.url + URL, json=chat_body(stream=False), timeout=10).status_code
        for _ in range(40)
    ]
    assert set(statuses) == {200, 429}
    assert 8 <= statuses.count(429) <= 32
    stats = sim_stats(sim)
    assert stats["faults_injected"] == {"status-429": statuses.count(429)}
    assert stats["completed_streams"] == statuses.count(200)


def test_bad_override_headers_are_refused(simulator: ManagedProcess) -> None:
    response = httpx.post(simulator.url + URL, json=chat_body(),
                          headers={"X-Sim-Output-Tokens": "lots"}, timeout=10)
    assert response.status_code == 400
    assert "X-Sim-Output-Tokens" in response.json()["error"]["message"]


def test_unknown_paths_answer_in_the_openai_error_shape(simulator: ManagedProcess) -> None:
    response = httpx.get(simulator.url + "/v1/nope", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert httpx.get(simulator.url + "/healthz", timeout=10).json() == {"status": "ok"}
