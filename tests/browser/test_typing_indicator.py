"""The typing indicator in a real browser: shown from the send until the first token, saying
"still working" when the service's keep-alives show a long wait, gone on the first token, an
error or a stop, and without moving the first-paint figure the page reports."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from loadtests.processes import ManagedProcess, start_service, start_simulator
from tests.browser.pages import ask, measures, paints, wait_done
from tests.support import service_env

pytestmark = pytest.mark.integration

TTFT_MS = 1500


@pytest.fixture(scope="module")
def slow_service() -> Iterator[ManagedProcess]:
    """A first token after 1.5 s, and a keep-alive every 0.25 s meanwhile."""
    sim = start_simulator("fast", extra_args=["--ttft-ms", str(TTFT_MS), "--log-level",
                                              "WARNING"])
    service = start_service(service_env(sim.url, CHAT_PING_INTERVAL_SECONDS="0.25"))
    yield service
    service.stop(quick=True)
    sim.stop()


# Every text the indicator shows, in order (None: gone), with the page's status region's and the
# answer's text at that moment.
# Recorded by the page itself: the label changes ~250 ms after the send, faster than a busy box
# lets a test poll for the first one.
_RECORD_INDICATOR = """() => {
  window.typingHistory = [];
  new MutationObserver(() => {
    const label = document.querySelector(".typing .label");
    const text = label ? label.textContent : null;
    const last = window.typingHistory.at(-1);
    if (!last || last.label !== text) {
      const answers = document.querySelectorAll(".turn.assistant .text");
      window.typingHistory.push({ label: text, answer: answers.length
        ? answers[answers.length - 1].textContent : "",
        status: document.querySelector("[role=status]").textContent,
        hidden: label ? label.closest(".typing").getAttribute("aria-hidden") : null });
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def test_typing_until_the_first_token_then_gone(page: Page,
                                                slow_service: ManagedProcess) -> None:
    page.goto(f"{slow_service.url}/")
    page.evaluate(_RECORD_INDICATOR)
    answer = ask(page, "How long does the first word of an answer take?")
    # One status region on the page, there before the send: screen readers announce changes
    # of a live region, not the first text of one just inserted.
    status = page.get_by_role("status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(answer.locator(".text")).not_to_have_text("", timeout=10_000)
    expect(answer.locator(".typing")).to_have_count(0)
    wait_done(answer)
    history = page.evaluate("window.typingHistory")
    shown = list(itertools.dropwhile(lambda label: label is None,
                                     (step["label"] for step in history)))
    # Typing, then still working once the keep-alives arrived, then gone; no answer text
    # while it showed.
    assert shown == ["chatperf is typing…", "Still working on it…", None], history
    assert all(step["answer"] == "" for step in history if step["label"] is not None), history
    # The region says what the indicator shows; the indicator itself is not read out twice.
    assert all(step["status"] == (step["label"] or "") for step in history[-3:]), history
    assert all(step["hidden"] == "true" for step in history if step["label"] is not None)
    expect(status).to_have_text("")
    # The first paint is still the first answer text, not the indicator: once, after the wait.
    [first] = measures(page, "chatperf:first-paint")
    assert first >= TTFT_MS
    growth = [p["length"] for p in paints(page) if p["length"] > 0]
    assert growth and growth == sorted(growth)


def test_a_stop_while_waiting_removes_it(page: Page, slow_service: ManagedProcess) -> None:
    page.goto(f"{slow_service.url}/")
    answer = ask(page, "Will you wait for me to stop you?")
    expect(answer.locator(".typing")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(re.compile("typing|Still working"))
    page.get_by_role("button", name="Stop").click()
    expect(answer.locator(".meta")).to_contain_text("stopped")
    expect(answer.locator(".typing")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_text("")
    assert measures(page, "chatperf:first-paint") == []


def test_an_error_before_the_first_token_removes_it(page: Page) -> None:
    sim = start_simulator("fast", extra_args=["--fault", "status-500:1", "--log-level",
                                              "WARNING"])
    service = start_service(service_env(sim.url, CHAT_UPSTREAM_MAX_RETRIES="0"))
    try:
        page.goto(f"{service.url}/")
        answer = ask(page, "Is the upstream well today?")
        expect(answer.get_by_role("alert")).to_be_visible(timeout=10_000)
        expect(answer.locator(".typing")).to_have_count(0)
    finally:
        service.stop(quick=True)
        sim.stop()
