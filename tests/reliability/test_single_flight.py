"""Many identical cold questions at once cause one upstream call; everyone gets the stream."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from service.sse import iter_events
from tests.reliability.conftest import sim_stats

CALLERS = 20


def _ask(url: str, question: str, client: httpx.Client | None = None) -> list:
    if client is None:
        with httpx.Client(timeout=30) as own:
            return _ask(url, question, own)
    with client.stream("POST", f"{url}/api/chat/stream", json={"message": question}) as response:
        return list(iter_events(response.iter_lines()))


def _answer(events: list) -> str:
    return "".join(event.json()["delta"] for event in events if event.event == "token")


def test_identical_concurrent_questions_share_one_upstream_call(
    start_sim, start_chat_service
) -> None:
    # A first token a second away: every caller arrives while the one upstream call is open.
    simulator = start_sim("fast", ["--ttft-ms", "1000"])
    service = start_chat_service(simulator.url, CHAT_PREWARM="0")
    question = "What does the Enterprise plan include for audit logs?"
    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        results = list(pool.map(lambda _: _ask(service.url, question), range(CALLERS)))

    assert all(events[-1].event == "done" for events in results)
    answers = {_answer(events) for events in results}
    assert len(answers) == 1 and answers.pop()
    assert all(len([e for e in events if e.event == "token"]) > 1 for events in results)
    assert sim_stats(simulator)["requests"] == 1


def test_the_flight_outlives_its_first_caller(start_faulty_simulator, start_chat_service) -> None:
    """The caller who started the upstream call may leave; the others still get the answer."""
    simulator = start_faulty_simulator(profile="seed")
    service = start_chat_service(simulator.url, CHAT_PREWARM="0",
                                 CHAT_PING_INTERVAL_SECONDS="0.25")
    question = "Walk me through the onboarding checklist"
    first_token = threading.Event()

    def leave_after_first_token() -> None:
        with httpx.Client(timeout=30) as client, client.stream(
            "POST", f"{service.url}/api/chat/stream", json={"message": question}
        ) as response:
            for event in iter_events(response.iter_lines()):
                if event.event == "token":
                    first_token.set()
                    return

    # Made (and connected) beforehand: the follower must arrive while the flight is still open,
    # not after the tens of milliseconds a new client takes to set up TLS defaults.
    follower_client = httpx.Client(timeout=30)
    follower_client.get(f"{service.url}/healthz")
    leaver = threading.Thread(target=leave_after_first_token)
    leaver.start()
    assert first_token.wait(10)
    try:
        follower = _ask(service.url, question, follower_client)
    finally:
        follower_client.close()
    leaver.join(timeout=10)

    assert follower[-1].event == "done"
    assert len([e for e in follower if e.event == "token"]) > 10
    assert sim_stats(simulator)["requests"] == 1
