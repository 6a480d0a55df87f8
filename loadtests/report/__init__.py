"""Writers of a finished run: the verdict table, ``report.html``, ``gate.md`` and ``junit.xml``.

Each takes the finished summary (``loadtests.summary``) and nothing else, so what they show can
never disagree with ``summary.json``.
"""

from __future__ import annotations

from loadtests.report.html import render_html
from loadtests.report.junit import render_junit
from loadtests.report.markdown import render_markdown
from loadtests.report.table import format_value, measured_window, verdict_table

__all__ = ["format_value", "measured_window", "render_html", "render_junit", "render_markdown",
           "verdict_table"]
