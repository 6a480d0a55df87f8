"""End to end: a popular question gains further real answers from the upstream, hits choose
among them (``meta.variant``), and ``temperature`` on ``/v1`` follows GPTCache's rule."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from loadtests.processes import ManagedProcess, start_redis, start_service
from tests.support import require_binary, service_env, stream_chat

QUESTION = "How do I export my data?"


def _answer(events: list) -> str:
    return "".join(event.json()["delta"] for event in events if event.event == "token")


def _stats(service: ManagedProcess) -> dict[str, Any]:
    return httpx.get(f"{service.url}/api/cache/stats").json()


@pytest.fixture(scope="module", params=["memory", "redis"])
def varied_service(request: pytest.FixtureRequest,
                   simulator: ManagedProcess) -> Iterator[ManagedProcess]:
    env = {"CHAT_PREWARM": "1", "CHAT_PREWARM_CONCURRENCY": "4",
           "CHAT_PREWARM_BUDGET_PER_MINUTE": "1000", "CHAT_CACHE_VARIANTS": "3",
           "CHAT_CACHE_VARIANT_AFTER_HITS": "1", "CHAT_CACHE_NAMESPACE": "variants-e2e"}
    if request.param == "redis":
        redis_server = request.getfixturevalue("redis_server")
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_server.port}/0"
    proc = start_service(service_env(simulator.url, **env))
    yield proc
    proc.stop(quick=True)


@pytest.fixture(scope="module")
def three_answers(varied_service: ManagedProcess) -> dict[int, str]:
    """Ask once (the first answer), then hit until two more were made; each variant's text."""
    _, first = stream_chat(varied_service.url, {"message": QUESTION})
    assert first[0].json()["cache"] == "miss"
    answers = {0: _answer(first)}
    deadline = time.monotonic() + 20
    while _stats(varied_service)["variants"]["made"] < 2 and time.monotonic() < deadline:
        stream_chat(varied_service.url, {"message": QUESTION})
        time.sleep(0.1)
    for _ in range(30):
        _, events = stream_chat(varied_service.url, {"message": QUESTION})
        answers[events[0].json()["variant"]] = _answer(events)
    return answers


def test_further_answers_are_real_and_served_with_their_index(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    assert set(three_answers) == {0, 1, 2}
    assert len(set(three_answers.values())) == 3  # three different texts
    _, events = stream_chat(varied_service.url, {"message": QUESTION})
    names = [event.event for event in events]
    meta = events[0].json()
    assert meta["cache"] == "hit" and meta["tier"] == "exact" and meta["variant"] in (0, 1, 2)
    assert names[0] == "meta" and names[-1] == "done" and set(names) == {"meta", "token", "done"}
    assert _answer(events) == three_answers[meta["variant"]]


def test_a_conversation_never_reads_one_answer_twice_in_a_row(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    seen = [stream_chat(varied_service.url, {"message": QUESTION, "session_id": "ada"})[1][0]
            .json()["variant"] for _ in range(12)]
    assert all(a != b for a, b in itertools.pairwise(seen)), seen


def test_clients_without_a_session_draw_by_the_temperature_weights_alone(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    # Single questions on /v1 belong to no conversation: if they shared one (by their text),
    # "never twice in a row" would hold across users and the first answer's share would fall
    # from the softmax's 58 % (three answers, T = 1) to 42 %.
    draws, expected = 400, math.e / (math.e + 2)
    body = {"model": "auto", "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.Client(base_url=varied_service.url, timeout=10) as client:
        served = [client.post("/v1/chat/completions", json=body).json()
                  ["choices"][0]["message"]["content"] for _ in range(draws)]
    share = served.count(three_answers[0]) / draws
    bound = 3.6 * math.sqrt(expected * (1 - expected) / draws)  # a false alarm 1 run in 3 000
    assert abs(share - expected) <= bound, (share, expected)


def test_the_stats_count_the_variants_and_what_they_cost(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    variants = _stats(varied_service)["variants"]
    assert variants["per_key"] == 3 and variants["after_hits"] == 1
    assert variants["keys"] >= 1 and variants["made"] >= 2 and variants["served"] > 0
    assert variants["upstream_calls"] == variants["made"] + variants["wasted"]
    assert variants["upstream_tokens"]["output"] > 0 and variants["upstream_tokens"]["input"] > 0


def test_temperature_zero_reads_the_first_answer_and_the_top_bypasses(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    client = openai.OpenAI(base_url=f"{varied_service.url}/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    for _ in range(5):
        cold = client.chat.completions.with_raw_response.create(
            model="auto", messages=messages, temperature=0)
        assert cold.headers["x-cache"] == "hit"
        assert cold.parse().choices[0].message.content == three_answers[0]
    lookups = _stats(varied_service)["lookups"]
    hot = client.chat.completions.with_raw_response.create(
        model="auto", messages=messages, temperature=2)
    assert hot.headers["x-cache"] == "miss"
    assert _stats(varied_service)["lookups"] == lookups  # not even looked up


def test_another_system_prompt_never_receives_these_answers(
        varied_service: ManagedProcess, three_answers: dict[int, str]) -> None:
    client = openai.OpenAI(base_url=f"{varied_service.url}/v1", api_key="unused", max_retries=0)
    own = client.chat.completions.with_raw_response.create(model="auto", messages=[
        {"role": "system", "content": "You answer as a pirate."},
        {"role": "user", "content": QUESTION}])
    assert own.headers["x-cache"] == "miss"
    assert own.parse().choices[0].message.content not in three_answers.values()


def test_one_answer_per_key_is_the_cache_as_before(start_chat_service,
                                                   simulator: ManagedProcess) -> None:
    service = start_chat_service(simulator.url, CHAT_PREWARM="1", CHAT_CACHE_VARIANTS="1",
                                 CHAT_CACHE_VARIANT_AFTER_HITS="1")
    _, first = stream_chat(service.url, {"message": QUESTION})
    for _ in range(5):
        _, events = stream_chat(service.url, {"message": QUESTION, "session_id": "ada"})
        assert events[0].json()["cache"] == "hit" and "variant" not in events[0].json()
        assert _answer(events) == _answer(first)
    time.sleep(0.3)
    variants = _stats(service)["variants"]
    assert variants["made"] == variants["upstream_calls"] == variants["keys"] == 0


def test_without_pre_warm_a_hit_claims_nothing_and_stays_one_round_trip(
        start_chat_service, simulator: ManagedProcess) -> None:
    require_binary("redis-server", "redis-server")
    own = start_redis()  # its command counts are this test's alone
    try:
        service = start_chat_service(simulator.url, CHAT_PREWARM="0", CHAT_CACHE_VARIANTS="3",
                                     CHAT_CACHE_VARIANT_AFTER_HITS="1",
                                     REDIS_URL=f"redis://127.0.0.1:{own.port}/0")
        stream_chat(service.url, {"message": QUESTION})
        admin = redis.Redis("127.0.0.1", own.port, decode_responses=True)
        admin.config_resetstat()
        hits = 12
        for _ in range(hits):
            _, events = stream_chat(service.url, {"message": QUESTION, "session_id": "ada"})
            assert events[0].json()["cache"] == "hit"
        scripts = sum(int(admin.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))
                      for name in ("evalsha", "eval"))
        assert scripts <= hits + 2  # a lookup each (a script load at most besides)
        assert not list(admin.scan_iter("*:vg"))  # no claim taken
        variants = _stats(service)["variants"]
        assert variants["skipped"] == variants["made"] == variants["upstream_calls"] == 0
        admin.close()
    finally:
        own.stop()
