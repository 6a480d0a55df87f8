"""Bad input gets a clear JSON error with the right status, and the service keeps answering."""

from __future__ import annotations

import httpx
import pytest

from loadtests.processes import ManagedProcess
from tests.support import stream_chat

STREAM = "/api/chat/stream"


@pytest.mark.parametrize(
    ("kwargs", "status", "code", "mentions"),
    [
        ({"json": {"message": ""}}, 422, "invalid_request", "message"),
        ({"json": {"message": "   "}}, 422, "invalid_request", "message"),
        ({"json": {}}, 422, "invalid_request", "message"),
        ({"json": {"message": 42}}, 422, "invalid_request", "message"),
        ({"json": {"message": "x" * 4001}}, 422, "invalid_request", "4000"),
        ({"json": {"message": "hi", "model": "gpt-9"}}, 422, "invalid_request", "model"),
        ({"json": {"message": "hi", "history": "nope"}}, 422, "invalid_request", "history"),
        ({"json": {"message": "hi", "history": [{"role": "robot", "content": "x"}]}},
         422, "invalid_request", "role"),
        ({"json": {"message": "hi", "history": [{"role": "user"}]}},
         422, "invalid_request", "content"),
        ({"json": {"message": "hi", "temperature": 2}}, 422, "invalid_request", "temperature"),
        ({"json": ["message"]}, 400, "invalid_json", "object"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}},
         400, "invalid_json", "JSON"),
        ({"content": b"message=hi", "headers": {"Content-Type": "text/plain"}},
         415, "unsupported_media_type", "application/json"),
        ({"json": {"message": "x" * 70_000}}, 413, "payload_too_large", "limit"),
    ],
)
def test_bad_chat_requests_are_refused_with_a_named_problem(
    chat_service: ManagedProcess, kwargs: dict, status: int, code: str, mentions: str
) -> None:
    response = httpx.post(f"{chat_service.url}{STREAM}", timeout=10, **kwargs)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions.lower() in error["message"].lower()


def test_unknown_routes_and_methods_answer_json(chat_service: ManagedProcess) -> None:
    missing = httpx.get(f"{chat_service.url}/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.delete(f"{chat_service.url}{STREAM}")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_the_service_still_answers_after_bad_input(chat_service: ManagedProcess) -> None:
    for _ in range(3):
        httpx.post(f"{chat_service.url}{STREAM}", content=b"\xff\xfe{", timeout=10,
                   headers={"Content-Type": "application/json"})
    response, events = stream_chat(chat_service.url, {"message": "Still there?"})
    assert response.status_code == 200 and events[-1].event == "done"
