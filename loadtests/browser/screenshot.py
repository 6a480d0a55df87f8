"""The picture of the chat page (docs/chat-page.md), drawn from a running service in a browser.

The conversation shows both kinds of answer: the first question is asked once beforehand in a
throwaway context, so on the picture it is an instant cache hit, and its follow-up a streamed
miss with the model's routing reason and the timings.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from loadtests.browser.chromium import launch_options

__all__ = ["take_screenshot"]

QUESTIONS = (
    "How does the answer cache recognise a rephrased question?",
    "And what happens when Redis is down?",
)
_TIMEOUT_MS = 60_000


def _ask(page: Page, question: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")
    expect(page.locator(".turn.assistant").last.locator(".meta")).to_contain_text(
        "total", timeout=_TIMEOUT_MS)


def take_screenshot(host: str, out: Path) -> None:
    """Write a PNG of ``host``'s page after a hit and a follow-up to ``out``."""
    host = host.rstrip("/")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        try:
            warm = browser.new_page()
            warm.goto(f"{host}/")
            _ask(warm, QUESTIONS[0])
            warm.close()
            page = browser.new_page(viewport={"width": 760, "height": 1340})
            page.goto(f"{host}/")
            for question in QUESTIONS:
                _ask(page, question)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
