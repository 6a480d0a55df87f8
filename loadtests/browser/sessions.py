"""Headless browser sessions that chat through the page during a load run, one JSON line per answer.

Each session is a browser context (its own storage) walking sessions of the reference workload
like a Locust user does: a new conversation, its turns in order (follow-ups carry the page's own
history), a think time between questions. For every answer it records what the page itself
measured with the Performance API — send to first and to last answer text painted — and what
the ``meta``/``done`` line said (cache hit or miss), so the load report can put "first thing the
user sees" next to the protocol's "first token". The sessions share one chromium process: two
sessions are a few hundred MB, not a second machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from loadtests.browser.chromium import launch_options
from loadtests.workload import Workload

__all__ = ["BrowserSample", "drive_sessions", "read_samples"]

_ANSWER_TIMEOUT_MS = 60_000
# How many first and last paint measures the page holds: those beyond are the next answer's.
_COUNTS = """() => ({
  first: performance.getEntriesByName("chatperf:first-paint", "measure").length,
  last: performance.getEntriesByName("chatperf:last-paint", "measure").length,
})"""
# The answer has ended when the page shows an error, or measured its last paint (the frame
# after the last token).
_ENDED = """(n) => document.querySelector(".turn.assistant:last-child .error")
  || performance.getEntriesByName("chatperf:last-paint", "measure").length > n.last"""
# What the page showed and measured for its newest answer.
_READ_ANSWER = """(n) => {
  const answer = document.querySelector(".turn.assistant:last-child");
  const newest = (name, count) => {
    const list = performance.getEntriesByName(name, "measure");
    return list.length > count ? list[list.length - 1].duration : null;
  };
  return {
    meta: answer.querySelector(".meta")?.textContent ?? "",
    error: answer.querySelector(".error")?.textContent ?? null,
    first: newest("chatperf:first-paint", n.first), last: newest("chatperf:last-paint", n.last),
  };
}"""


@dataclass(frozen=True)
class BrowserSample:
    """One answer as a browser user saw it; times in ms from the user's send."""

    session: int
    started_epoch_s: float
    ok: bool
    cache: str | None  # "hit" | "miss" | None (no meta line)
    first_paint_ms: float | None
    last_paint_ms: float | None
    error: str | None


async def _ask(page: Page, question: str, session: int) -> BrowserSample:
    started = time.time()
    before = await page.evaluate(_COUNTS)
    box = page.get_by_role("textbox", name="Message")
    await box.fill(question)
    await box.press("Enter")
    try:
        await page.wait_for_function(_ENDED, arg=before, timeout=_ANSWER_TIMEOUT_MS)
    except PlaywrightTimeout:
        return BrowserSample(session, started, False, None, None, None,
                             f"no answer within {_ANSWER_TIMEOUT_MS // 1000} s")
    seen = await page.evaluate(_READ_ANSWER, before)
    meta = seen["meta"]
    cache = "hit" if "cache hit" in meta else "miss" if "cache miss" in meta else None
    first, last = seen["first"], seen["last"]
    return BrowserSample(
        session, started, seen["error"] is None, cache,
        None if first is None else round(first, 1), None if last is None else round(last, 1),
        seen["error"],
    )


async def _close(target: Browser | BrowserContext) -> None:
    """Close ``target``; one already closed is the end state wanted. On SIGTERM Playwright's own
    driver, in this process group, gets the signal too and may close the browser first."""
    with contextlib.suppress(PlaywrightError):
        await target.close()


async def _session(browser: Browser, host: str, index: int, deadline: float, seed: int,
                   think_time: tuple[float, float], out: IO[str]) -> None:
    rng = random.Random(seed * 1000 + index)
    workload = Workload.load()
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{host}/")
        while time.monotonic() < deadline:
            await page.get_by_role("button", name="New chat").click()
            for turn in workload.sample_session(rng):
                if time.monotonic() >= deadline:
                    return
                sample = await _ask(page, turn.question, index)
                out.write(json.dumps(asdict(sample)) + "\n")
                out.flush()
                await asyncio.sleep(rng.uniform(*think_time))
    finally:
        await _close(context)


async def drive_sessions(host: str, sessions: int, duration_s: float, out_path: Path,
                         seed: int = 0, think_time: tuple[float, float] = (0.5, 2.0)) -> None:
    """Run ``sessions`` browser sessions against ``host`` for ``duration_s``; append samples."""
    deadline = time.monotonic() + duration_s
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(**launch_options())
        try:
            with open(out_path, "a", encoding="utf-8") as out:
                sessions_done = asyncio.gather(*(
                    _session(browser, host.rstrip("/"), index, deadline, seed, think_time, out)
                    for index in range(sessions)))
                # Playwright starts chromium in a process group of its own, outside what the
                # runner's stop kills: on SIGTERM, end the sessions and close it in order
                # instead of leaving it to notice its driver is gone.
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sessions_done.cancel)
                with contextlib.suppress(asyncio.CancelledError):
                    await sessions_done
        finally:
            await _close(browser)


def read_samples(path: Path) -> list[dict[str, object]]:
    """The samples a run's browser sessions wrote (none when there were no browsers)."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
