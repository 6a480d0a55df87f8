"""The overhead benchmark's upstream: fixed profiles and pins play exactly what they state."""

from __future__ import annotations

import json
import random

import pytest

from loadtests.simulator import PROFILES
from loadtests.simulator.app import build_app
from loadtests.simulator.cli import parse_args
from loadtests.simulator.config import SimulatorConfig
from loadtests.simulator.latency import plan


@pytest.mark.parametrize("tier", ["fast", "smart"])
def test_fixed_profile_is_the_same_for_every_request_and_tier(tier: str) -> None:
    for seed in range(20):
        schedule = plan(PROFILES["fixed"], tier, random.Random(seed))
        assert schedule.ttft_s == pytest.approx(0.05)
        assert schedule.tokens == 64
        gaps = [b - a for a, b in zip(schedule.offsets_s, schedule.offsets_s[1:], strict=False)]
        assert gaps == pytest.approx([0.02] * 63)  # no jitter between tokens


def test_idle_profile_sends_a_token_every_two_seconds() -> None:
    schedule = plan(PROFILES["idle"], "fast", random.Random(1))
    assert schedule.ttft_s == pytest.approx(0.05)
    assert schedule.offsets_s == pytest.approx((0.05, 2.05, 4.05, 6.05))


def test_pinned_token_gap_and_length_from_the_command_line() -> None:
    config = parse_args(["--profile", "seed", "--ttft-ms", "5", "--itl-ms", "1.5",
                         "--output-tokens", "7"])
    assert (config.ttft_ms, config.itl_ms, config.output_tokens) == (5, 1.5, 7)
    schedule = plan(config.profile, "smart", random.Random(3), ttft_ms=config.ttft_ms,
                    itl_ms=config.itl_ms, output_tokens=config.output_tokens)
    assert schedule.tokens == 7 and schedule.ttft_s == pytest.approx(0.005)
    # The pace is pinned (the seed profile's own is 30 ms); seed keeps its ±50 % gap jitter.
    assert schedule.total_s == pytest.approx(0.005 + 6 * 0.0015, rel=0.5)


def test_pinned_length_reaches_the_stream() -> None:
    app = build_app(SimulatorConfig(profile_name="fixed", ttft_ms=1, itl_ms=1, output_tokens=5))
    response = app.test_client().post("/v1/chat/completions", json={
        "model": "gpt-4o-mini", "stream": True,
        "messages": [{"role": "user", "content": "How long is this answer?"}]})
    payloads = [line[len("data: "):] for line in response.get_data(as_text=True).splitlines()
                if line.startswith("data: ")]
    assert payloads[-1] == "[DONE]"
    contents = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads[:-1]]
    assert len([c for c in contents if c]) == 5
