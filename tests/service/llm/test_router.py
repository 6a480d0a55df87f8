"""The model router on a table of questions: simple ones go fast, complex ones smart, with why."""

from __future__ import annotations

import pytest

from service.chat_request import ChatMessage
from service.llm.router import ModelRouter
from service.settings import Settings

SETTINGS = Settings(openai_base_url="http://127.0.0.1:1/v1", fast_model="small-m",
                    smart_model="big-m")


@pytest.mark.parametrize(
    ("question", "tier", "reason"),
    [
        ("How much is the Pro plan?", "fast", "simple"),
        ("Do you offer a free trial?", "fast", "simple"),
        ("What are your support hours?", "fast", "simple"),
        ("Compare the Pro plan with the Team plan", "smart", "comparison"),
        ("What is the difference between Pro and Enterprise?", "smart", "comparison"),
        ("Pro vs Team: which one is better for five people?", "smart", "comparison"),
        ("Write a Python function that calls your API", "smart", "code"),
        ("Why does this fail? ```curl -X POST ...```", "smart", "code"),
        ("I get a stack trace when I upload files", "smart", "code"),
        ("Explain why my latency goes up at noon", "smart", "analysis"),
        ("Walk me through migrating from the old plan", "smart", "analysis"),
        ("How do I reset my password? And can I change my email?", "smart", "multi-part"),
        ("I need:\n1. invoices monthly\n2. a named contact", "smart", "multi-part"),
        ("Tell me about your company " + "and its history " * 20, "smart", "long"),
    ],
)
def test_auto_routes_by_question_shape(question: str, tier: str, reason: str) -> None:
    decision = ModelRouter(SETTINGS).choose(question)
    assert (decision.tier, decision.reason) == (tier, reason)
    assert decision.model == {"fast": "small-m", "smart": "big-m"}[tier]


@pytest.mark.parametrize("requested", ["fast", "smart"])
def test_an_explicit_choice_wins_over_the_rules(requested: str) -> None:
    decision = ModelRouter(SETTINGS).choose("Compare A and B in detail", requested=requested)
    assert decision.tier == requested
    assert decision.reason == "requested"


def test_history_does_not_make_a_simple_question_complex() -> None:
    history = [ChatMessage("user", "Compare A with B"), ChatMessage("assistant", "A is ...")]
    assert ModelRouter(SETTINGS).choose("And the price?", history).tier == "fast"


def test_the_long_message_threshold_is_a_setting() -> None:
    router = ModelRouter(SETTINGS.replace(router_long_message_chars=10))
    assert router.choose("What is the refund policy").reason == "long"
