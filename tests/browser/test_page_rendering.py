"""What the page renders and how it is used: markup as text, the keyboard, a phone, an API key.

The upstream is the simulator with ``--echo``: every answer is the question's own text, so a test
chooses exactly what the "model" sends — here, markup that must stay text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from loadtests.processes import ManagedProcess, start_service, start_simulator
from tests.browser.conftest import PAINT_PROBE
from tests.browser.pages import ask, wait_done
from tests.support import service_env

pytestmark = pytest.mark.integration

MARKUP = ('<script>window.__xss = "script"</script><img src=x onerror="window.__xss = \'img\'">'
          "<b>bold?</b> &amp; done")


@pytest.fixture(scope="module")
def echo_sim() -> Iterator[ManagedProcess]:
    sim = start_simulator("fast", extra_args=["--echo", "--log-level", "WARNING"])
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def echo_service(echo_sim: ManagedProcess) -> Iterator[ManagedProcess]:
    service = start_service(service_env(echo_sim.url))
    yield service
    service.stop()


def test_markup_in_an_answer_is_shown_as_text(page: Page, echo_service: ManagedProcess) -> None:
    page.goto(f"{echo_service.url}/")
    answer = ask(page, MARKUP)
    wait_done(answer)
    assert answer.locator(".text").text_content() == MARKUP
    assert page.locator(".turn.user .text").last.text_content() == MARKUP
    conversation = page.locator("#conversation")
    assert conversation.locator("script, img, b").count() == 0
    assert page.evaluate("window.__xss") is None


def test_enter_sends_and_shift_enter_adds_a_line(page: Page, echo_service: ManagedProcess) -> None:
    page.goto(f"{echo_service.url}/")
    box = page.get_by_role("textbox", name="Message")
    expect(box).to_be_focused()
    # No keys configured: nothing asks for one.
    expect(page.get_by_role("textbox", name="API key")).to_be_hidden()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert page.locator(".turn").count() == 0
    page.keyboard.press("Enter")
    expect(box).to_have_value("")
    answer = page.locator(".turn.assistant").last
    wait_done(answer)
    assert answer.locator(".text").text_content() == "first line\nsecond line"
    # Focus is back in the box for the next question.
    expect(box).to_be_focused()


def test_a_follow_up_carries_the_conversation_and_new_chat_forgets_it(
    page: Page, echo_service: ManagedProcess
) -> None:
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(r.post_data_json)
            if r.url.endswith("/api/chat/stream") else None)
    page.goto(f"{echo_service.url}/")
    wait_done(ask(page, "first question"))
    wait_done(ask(page, "second question"))
    assert sent[0]["history"] == []
    assert sent[1]["history"] == [{"role": "user", "content": "first question"},
                                  {"role": "assistant", "content": "first question"}]
    assert sent[0]["session_id"] == sent[1]["session_id"]
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".turn")).to_have_count(0)
    wait_done(ask(page, "third question"))
    assert sent[2]["history"] == [] and sent[2]["session_id"] != sent[0]["session_id"]


def test_readable_on_a_phone(browser: Browser, echo_service: ManagedProcess) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    context.add_init_script(PAINT_PROBE)
    try:
        page = context.new_page()
        page.goto(f"{echo_service.url}/")
        wait_done(ask(page, "a-very-long-unbroken-word-" * 20))
        width = page.evaluate("window.innerWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for name in ("Send", "Stop", "New chat"):
            box = page.get_by_role("button", name=name).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["height"] >= 40  # a finger-sized target
        font = page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.turn .text')).fontSize)")
        assert font >= 16
    finally:
        context.close()


def test_with_api_keys_the_page_asks_for_a_key_and_keeps_it_for_the_tab(
    page: Page, echo_sim: ManagedProcess, start_chat_service: Callable[..., ManagedProcess]
) -> None:
    service = start_chat_service(echo_sim.url, CHAT_API_KEYS="k-right")
    page.goto(f"{service.url}/")
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_be_visible()
    expect(key).to_be_focused()
    key.fill("k-wrong")
    key.press("Enter")
    answer = ask(page, "hello with a key")
    expect(answer.locator(".error")).to_contain_text("not valid")
    expect(key).to_be_visible()
    key.fill("k-right")
    page.get_by_role("button", name="Use key").click()
    wait_done(answer)
    assert answer.locator(".text").text_content() == "hello with a key"
    expect(answer.locator(".error")).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('chatperf.apiKey')") == "k-right"
    assert page.evaluate("localStorage.length") == 0

    page.reload()
    expect(page.get_by_role("textbox", name="API key")).to_be_hidden()
    wait_done(ask(page, "still allowed"))
