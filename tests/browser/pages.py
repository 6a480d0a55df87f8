"""What the browser tests do on the chat page, named as a user would say it."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

ANSWER_TIMEOUT_MS = 30_000


def ask(page: Page, question: str) -> Locator:
    """Type ``question`` and press Enter; the answer's bubble."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(question)
    box.press("Enter")
    return page.locator(".turn.assistant").last


def wait_done(answer: Locator) -> Locator:
    """The answer's meta line once the answer is complete (it then shows the total time)."""
    meta = answer.locator(".meta")
    expect(meta).to_contain_text("total", timeout=ANSWER_TIMEOUT_MS)
    return meta


def measures(page: Page, name: str) -> list[float]:
    """Durations (ms) of the page's Performance API measures called ``name``."""
    return page.evaluate(
        "(name) => performance.getEntriesByName(name, 'measure').map(m => m.duration)", name)


def paints(page: Page) -> list[dict[str, Any]]:
    """The paint probe's record: ``{t, length}`` at each frame whose answer text changed."""
    return page.evaluate("window.__paints")


def sim_stats(sim_url: str) -> dict[str, Any]:
    return httpx.get(f"{sim_url}/sim/stats", timeout=10).json()
