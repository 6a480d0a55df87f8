"""Load shapes by name, and the other scenario mixes driven for real."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.shapes import SHAPES, stage_at
from tests.loadtests.conftest import short_run


@pytest.mark.parametrize("name", SHAPES)
def test_every_shape_ends_with_the_run(name: str) -> None:
    assert stage_at(name, 60.0, 60.0, 30, 5.0) is None
    assert stage_at(name, 0.0, 60.0, 30, 5.0) is not None


def test_ramp_climbs_and_spike_surges_then_falls_back() -> None:
    ramp = [stage_at("ramp", t, 100.0, 30, 5.0)[0] for t in (0, 20, 40, 60, 90)]
    assert ramp == sorted(ramp) and ramp[0] < ramp[-1] == 30
    spike = [stage_at("spike", t, 100.0, 30, 5.0) for t in (10, 50, 90)]
    assert [users for users, _ in spike] == [10, 30, 10]
    assert spike[1][1] > spike[0][1]  # the surge spawns faster


@pytest.mark.integration
def test_mixed_users_on_a_fixed_arrival_rate(tmp_path: Path) -> None:
    result = short_run(tmp_path, mix="mixed", shape="arrival", arrival_rate=8.0, users=6,
                       duration_s=5)
    kinds = result.summary["requests_by_kind"]
    assert set(kinds) <= {"chat", "openai", "quick"} and kinds.get("chat", 0) > 0
    assert result.summary["error_rate"] == 0
    assert result.summary["cache_hit_rate_agree"] is True
    # Paced, not closed-loop: about the arrival rate, not as fast as six users could go.
    assert result.summary["requests"] <= 8.0 * 5 * 1.5


@pytest.mark.integration
def test_ctrl_c_stops_everything_the_run_started(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "loadtests", "run", "--profile", "fast", "--duration", "60s",
         "--users", "2", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path.cwd())
    deadline = time.monotonic() + 40
    while not list(tmp_path.glob("*/samples.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.2)
    children = psutil.Process(runner.pid).children(recursive=True)
    assert len(children) >= 3
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 130
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.cmdline() for p in alive]
    assert list(tmp_path.glob("*/logs/locust.log"))  # logs stay for the post-mortem
