"""``--browsers``: a short real load run with a headless browser chatting through the page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loadtests.browser.process import SAMPLES_FILE
from tests.loadtests.conftest import short_run
from tests.support import require_binary

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) until reaped; it no longer runs.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_load_run_with_a_browser_reports_its_first_paint_beside_the_ttft(
    tmp_path: Path,
) -> None:
    require_binary("chromium", "chromium")
    result = short_run(tmp_path, browsers=1, duration_s=10, think_time="0.2,0.5")
    summary = result.summary
    lines = [json.loads(line) for line in (result.run_dir / SAMPLES_FILE).read_text().splitlines()]
    painted = [s["first_paint_ms"] for s in lines if s["first_paint_ms"] is not None]
    assert painted, lines
    assert summary["run"]["browsers"] == 1
    assert summary["browser_first_paint_samples"] == len(painted)
    assert min(painted) / 1000 <= summary["browser_first_paint_p50_s"] <= max(painted) / 1000
    verdict = (result.run_dir / "verdict.txt").read_text()
    assert "browser first paint p50" in verdict and "TTFT p50" in verdict
    assert any(t["target"] == "browser_first_paint_p95_seconds" for t in summary["targets"])
    assert (result.run_dir / "logs" / "browsers.log").exists()
    assert not [pid for pid in result.pids if _alive(pid)]
