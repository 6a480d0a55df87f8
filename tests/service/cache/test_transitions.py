"""Pre-warm's memory of traffic stays within its byte budget and keeps what is asked often."""

from __future__ import annotations

import tracemalloc

from service.cache.transitions import Transitions, meaning_id


def _learn_unique(transitions: Transitions, count: int, length: int) -> None:
    for i in range(count):
        text = f"question {i} " + "x" * length
        transitions.learn(f"tenant-{i % 7}", f"ctx-{i}", f"ctx-{i + 1}", meaning_id(text), text)


def test_unique_traffic_stays_within_the_byte_budget() -> None:
    budget = 1 << 20
    transitions = Transitions(budget)
    tracemalloc.start()
    _learn_unique(transitions, 2_000, 200)
    before = tracemalloc.get_traced_memory()[0]
    _learn_unique(transitions, 20_000, 2_000)  # 40 MB of text if nothing were forgotten
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert transitions.bytes <= budget
    assert grown < budget  # the estimate is an upper bound of what is really held


def test_frequent_follow_ups_survive_a_flood_of_rare_ones() -> None:
    transitions = Transitions(1 << 20)
    first, then = meaning_id("first"), meaning_id("then")
    for conversation in range(5):
        transitions.learn("t", "", f"c{conversation}", first, "first")
        transitions.learn("t", f"c{conversation}", f"d{conversation}", then, "then")
    for i in range(200):  # one-off follow-ups of the same question
        transitions.learn("t", "", f"x{i}", first, "first")
        transitions.learn("t", f"x{i}", f"y{i}", meaning_id(f"rare {i}"), f"rare {i}")
    assert transitions.predicted("t", first, 1) == ["then"]
    assert transitions.predicted("other-tenant", first, 1) == []
