"""Real browsers through the chat page: the load run's browser sessions and the screenshot.

Locust measures the protocol (time to the first ``token`` event); these sessions measure what a
user sees (time to the first answer text painted), so the gap between the two is measured rather
than assumed. ``python -m loadtests.browser`` drives them on its own (``drive``, ``screenshot``).
"""

from __future__ import annotations

from loadtests.browser.chromium import CHROMIUM_ARGS, ChromiumMissing, chromium_path, launch_options

__all__ = ["CHROMIUM_ARGS", "ChromiumMissing", "chromium_path", "launch_options"]
