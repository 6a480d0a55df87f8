"""An upstream fault in a real browser: the page shows the ``error`` event and Retry recovers.

The simulator cuts half of its streams mid-answer, drawing from one seeded generator in arrival
order; the seed is chosen (with the simulator's own picker) so the first answer is cut and the
second is not, which makes "fails, then the retry works" deterministic.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from loadtests.processes import ManagedProcess, start_service, start_simulator
from loadtests.simulator.faults import FaultPicker
from tests.browser.pages import ask, sim_stats, wait_done
from tests.support import service_env

pytestmark = pytest.mark.integration

FAULT, RATE = "cut-mid-stream", 0.5


def _seed_failing_first_only() -> int:
    for seed in range(1000):
        picker = FaultPicker({FAULT: RATE}, seed)
        if picker.pick() == FAULT and picker.pick() is None:
            return seed
    raise AssertionError("no seed cuts the first stream only")


@pytest.fixture(scope="module")
def fault_stack() -> Iterator[tuple[ManagedProcess, ManagedProcess]]:
    sim = start_simulator("fast", extra_args=[
        "--seed", str(_seed_failing_first_only()), "--fault", f"{FAULT}:{RATE}",
        "--log-level", "WARNING"])
    service = start_service(service_env(sim.url))
    yield sim, service
    service.stop()
    sim.stop()


def test_a_cut_answer_shows_the_error_and_retry_answers(
    page: Page, fault_stack: tuple[ManagedProcess, ManagedProcess]
) -> None:
    sim, service = fault_stack
    page.goto(f"{service.url}/")
    answer = ask(page, "Why do streams sometimes break halfway?")
    alert = answer.get_by_role("alert")
    expect(alert).to_contain_text("upstream_interrupted", timeout=15_000)
    expect(alert).to_contain_text("broke mid-answer")
    expect(answer.locator(".meta")).not_to_contain_text("total")
    assert sim_stats(sim.url)["faults_injected"] == {FAULT: 1}

    retry = answer.get_by_role("button", name="Retry this question")
    retry.click()
    wait_done(answer)
    expect(answer.get_by_role("alert")).to_have_count(0)
    assert answer.locator(".text").inner_text().endswith(".")
    assert page.locator(".turn.assistant").count() == 1
    assert sim_stats(sim.url)["completed_streams"] == 1
