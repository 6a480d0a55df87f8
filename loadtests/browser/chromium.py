"""Launching Debian's ``chromium`` headless through Playwright, the same way everywhere.

Playwright's own browser download does not work on our machines, so the tests, the load run's
browser sessions and the screenshot command all point Playwright at the system's ``chromium``
with one set of flags: headless, no sandbox (we run as root in CI), and nothing that talks to
the network on its own (updates, sync, QUIC probes), so a run measures only the page.
Playwright gives every ``launch`` a fresh, throwaway profile directory.
"""

from __future__ import annotations

import shutil

__all__ = ["CHROMIUM_ARGS", "ChromiumMissing", "chromium_path", "launch_options"]

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class ChromiumMissing(RuntimeError):
    """Raised when no ``chromium`` binary is on PATH (Debian package ``chromium``)."""


def chromium_path() -> str:
    """Path of the system's chromium, or ``ChromiumMissing``."""
    path = shutil.which("chromium")
    if path is None:
        raise ChromiumMissing("chromium is not installed (Debian package chromium)")
    return path


def launch_options(executable: str | None = None) -> dict[str, object]:
    """Keyword arguments for Playwright's ``chromium.launch``."""
    return {
        "executable_path": executable or chromium_path(),
        "headless": True,
        "args": list(CHROMIUM_ARGS),
    }
