"""The latency model, tiers, answer text and command line, tested without a server."""

from __future__ import annotations

import random
import statistics

import pytest

from loadtests.simulator import PROFILES, model_tier
from loadtests.simulator.cli import parse_args
from loadtests.simulator.faults import FaultPicker, parse_fault
from loadtests.simulator.latency import Schedule, plan
from loadtests.simulator.text import answer_tokens, count_prompt_tokens, tokenize

SAMPLE = 4000


def _sample(profile: str, tier: str | None = None, seed: int = 11) -> list[Schedule]:
    rng = random.Random(seed)
    tiers = [tier] if tier else ["fast", "smart"]
    return [plan(PROFILES[profile], tiers[i % len(tiers)], rng) for i in range(SAMPLE)]


def _p(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))]


def test_seed_profile_matches_the_original_system() -> None:
    schedules = _sample("seed")
    totals = [s.total_s for s in schedules]
    ttfts = [s.ttft_s for s in schedules]
    assert 5.7 <= statistics.mean(totals) <= 6.7
    assert _p(ttfts, 0.95) < 1.0
    assert _p(totals, 0.01) >= 4.0 and _p(totals, 0.99) <= 10.0  # about 4.7 s to 9.7 s
    tokens = [s.tokens for s in schedules]
    assert min(tokens) >= 80 and max(tokens) <= 250


def test_seed_profile_smart_tier_is_slower_than_fast_tier() -> None:
    fast = statistics.mean(s.total_s for s in _sample("seed", "fast"))
    smart = statistics.mean(s.total_s for s in _sample("seed", "smart"))
    assert fast < smart


def test_test_profiles_keep_their_promises() -> None:
    fast = _sample("fast")
    assert max(s.total_s for s in fast) < 0.5
    assert 0.01 <= statistics.mean(s.ttft_s for s in fast) <= 0.1
    assert _p([s.ttft_s for s in _sample("slow")], 0.5) > 1.0  # a gate on TTFT p95 fails
    assert all(s.total_s == 0 for s in _sample("instant"))


def test_schedule_is_ordered_and_pins_are_honoured() -> None:
    schedule = plan(PROFILES["seed"], "smart", random.Random(1), ttft_ms=250, output_tokens=40)
    assert schedule.ttft_s == 0.25
    assert schedule.tokens == 40
    assert list(schedule.offsets_s) == sorted(schedule.offsets_s)
    assert schedule.offsets_s[0] == schedule.ttft_s


def test_same_seed_same_schedule() -> None:
    a = plan(PROFILES["seed"], "fast", random.Random(b"same request"))
    b = plan(PROFILES["seed"], "fast", random.Random(b"same request"))
    c = plan(PROFILES["seed"], "fast", random.Random(b"other request"))
    assert a == b
    assert a != c


@pytest.mark.parametrize(
    ("model", "tier"),
    [
        ("gpt-4o-mini", "fast"), ("gpt-4o", "smart"), ("claude-3-haiku", "fast"),
        ("llama-3.1-8b-instruct", "fast"), ("my-FAST-model", "fast"), ("qwen-small", "fast"),
        ("o1", "smart"), ("llama-3.1-70b", "smart"),
    ],
)
def test_model_tier_by_name(model: str, tier: str) -> None:
    assert model_tier(model) == tier


def test_answers_are_deterministic_prose_of_the_asked_length() -> None:
    question = "Why does streaming make a chatbot feel faster?"
    first = answer_tokens(question, 120)
    assert first == answer_tokens(question, 120)
    assert first != answer_tokens("What is Redis used for?", 120)
    assert len(first) == 120
    assert "".join(first).endswith(".")
    assert answer_tokens(question, 200)[:119] == first[:119]  # longer answer, same opening
    assert answer_tokens(question, 7, complete=False) == first[:7]


def test_a_request_seed_asks_for_another_sample() -> None:
    question = "Why does streaming make a chatbot feel faster?"
    assert answer_tokens(question, 60, seed=1) == answer_tokens(question, 60, seed=1)
    assert answer_tokens(question, 60, seed=1) != answer_tokens(question, 60)
    assert answer_tokens(question, 60, seed=1) != answer_tokens(question, 60, seed=2)


def test_tokens_rebuild_the_text_and_count_prompts() -> None:
    text = "Hello,  world!\n\nA characteristically long word, 12345 and é."
    assert "".join(tokenize(text)) == text
    one = count_prompt_tokens([{"role": "user", "content": "hi there"}])
    two = count_prompt_tokens([{"role": "system", "content": "be brief"},
                               {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert 0 < one < two


def test_fault_specs_and_rates() -> None:
    assert parse_fault("stall-mid-stream") == ("stall-mid-stream", 1.0)
    assert parse_fault("status-503:0.25") == ("status-503", 0.25)
    for bad in ("status-418", "status-503:2", "status-503:often"):
        with pytest.raises(ValueError):
            parse_fault(bad)
    picker = FaultPicker({"status-500": 0.3}, seed=5)
    picks = [picker.pick() for _ in range(2000)]
    assert 0.25 < picks.count("status-500") / len(picks) < 0.35
    assert picker.pick("none") is None
    assert picker.pick("cut-mid-stream") == "cut-mid-stream"


def test_command_line_builds_the_config() -> None:
    config = parse_args(["--port", "9100", "--profile", "fast", "--seed", "4",
                         "--fault", "status-429:0.1", "--fault", "cut-mid-stream"])
    assert (config.host, config.port, config.profile_name, config.seed) == (
        "127.0.0.1", 9100, "fast", 4)
    assert config.fault_rates == {"status-429": 0.1, "cut-mid-stream": 1.0}
    assert config.ttft_ms is None
    assert parse_args(["--ttft-ms", "250"]).ttft_ms == 250
    with pytest.raises(SystemExit):
        parse_args(["--fault", "status-429:1.5"])
