"""``/api/chat/stream`` over real HTTP: event order, shapes, headers, replay from the cache."""

from __future__ import annotations

import httpx

from loadtests.processes import ManagedProcess
from service.sse import iter_events
from tests.support import stream_chat


def _names(events: list) -> list[str]:
    return [event.event for event in events]


def test_a_stream_is_meta_then_tokens_then_done(chat_service: ManagedProcess) -> None:
    response, events = stream_chat(chat_service.url, {"message": "What does the Pro plan cost?"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    names = _names(events)
    assert names[0] == "meta" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"} and len(names) > 3
    meta, done = events[0].json(), events[-1].json()
    assert meta["request_id"] == response.headers["x-request-id"]
    assert meta["cache"] == "miss" and meta["tier"] is None
    assert meta["model_tier"] == "fast" and meta["routing_reason"] == "simple"
    assert done["finish_reason"] == "stop"
    assert done["usage"]["output_tokens"] > 0 and done["usage"]["input_tokens"] > 0
    timings = done["timings"]
    assert 0 <= timings["cache_ms"] <= timings["ttft_ms"] <= timings["total_ms"]
    text = "".join(event.json()["delta"] for event in events if event.event == "token")
    assert len(text.split()) >= 5


def test_the_same_question_again_streams_the_cached_answer(chat_service: ManagedProcess) -> None:
    question = {"message": "Which payment methods do you accept for invoices?"}
    _, first = stream_chat(chat_service.url, question)
    _, second = stream_chat(chat_service.url, question)
    answer = ["".join(e.json()["delta"] for e in events if e.event == "token")
              for events in (first, second)]
    assert answer[0] == answer[1]
    assert second[0].json()["cache"] == "hit"
    assert second[0].json()["tier"] == "exact"
    assert _names(second)[-1] == "done"


def test_an_incoming_request_id_is_kept(chat_service: ManagedProcess) -> None:
    response, events = stream_chat(chat_service.url, {"message": "Hello there"},
                                   headers={"X-Request-ID": "load-test-42"})
    assert response.headers["x-request-id"] == "load-test-42"
    assert events[0].json()["request_id"] == "load-test-42"


def test_browser_eventsource_can_use_get(chat_service: ManagedProcess) -> None:
    with httpx.Client(timeout=30) as client, client.stream(
        "GET", f"{chat_service.url}/api/chat/stream", params={"message": "Is there an API?"}
    ) as response:
        events = list(iter_events(response.iter_lines()))
    assert response.status_code == 200
    assert events[0].event == "meta" and events[-1].event == "done"


def test_one_shot_json_answer(chat_service: ManagedProcess) -> None:
    response = httpx.post(f"{chat_service.url}/api/chat",
                          json={"message": "Can I export my data as CSV?"}, timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["answer"] and body["finish_reason"] == "stop"
    assert body["cache"] in ("hit", "miss") and body["usage"]["output_tokens"] > 0


def test_quick_check_answers_from_cache_or_says_it_has_nothing(
    chat_service: ManagedProcess,
) -> None:
    question = "Do you have a status page for outages?"
    quick = httpx.post(f"{chat_service.url}/api/chat/quick", json={"message": question})
    assert quick.status_code == 200 and quick.json() == {"hit": False}
    _, events = stream_chat(chat_service.url, {"message": question})
    streamed = "".join(e.json()["delta"] for e in events if e.event == "token")
    quick = httpx.get(f"{chat_service.url}/api/chat/quick", params={"message": question})
    body = quick.json()
    assert body["hit"] is True and body["answer"] == streamed and body["tier"] == "exact"


def test_smart_questions_go_to_the_smart_model(chat_service: ManagedProcess) -> None:
    _, events = stream_chat(chat_service.url,
                            {"message": "Compare the Team plan with Enterprise for us"})
    meta = events[0].json()
    assert meta["model_tier"] == "smart" and meta["routing_reason"] == "comparison"
    assert meta["model"] == "gpt-4o"


def test_history_changes_the_scope_of_the_cache(chat_service: ManagedProcess) -> None:
    follow_up = {"message": "And for teams of ten?"}
    _, alone = stream_chat(chat_service.url, follow_up)
    history = [{"role": "user", "content": "How much is Pro?"},
               {"role": "assistant", "content": "Pro is 20 dollars a month."}]
    _, in_conversation = stream_chat(chat_service.url, {**follow_up, "history": history})
    assert alone[0].json()["cache"] == "miss"
    assert in_conversation[0].json()["cache"] == "miss"
