"""Fixtures for the browser suite: one headless chromium per module, a fresh context per test.

Debian's ``chromium`` is driven through Playwright (its own browser download does not work here).
Without the binary the suite skips with the reason, and fails under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from loadtests.browser import launch_options
from tests.support import require_binary

# The test's own eye on the screen, independent of the page's code: at every animation frame it
# notes the length of the newest answer's text whenever it changed since the previous frame.
PAINT_PROBE = """
window.__paints = [];
(function sample() {
  const answers = document.querySelectorAll(".turn.assistant .text");
  const length = answers.length ? answers[answers.length - 1].textContent.length : 0;
  const seen = window.__paints;
  if (!seen.length || seen[seen.length - 1].length !== length) {
    seen.push({ t: performance.now(), length });
  }
  requestAnimationFrame(sample);
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = require_binary("chromium", "chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options(executable))
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context (own storage) with the paint probe, closed after the test."""
    context = browser.new_context()
    context.add_init_script(PAINT_PROBE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"the page threw: {errors}"
