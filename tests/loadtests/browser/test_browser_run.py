"""``--browsers``: a short real load run with a headless browser chatting through the page, and
the sessions' process stopping cleanly."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from loadtests.browser.process import SAMPLES_FILE
from loadtests.processes import ManagedProcess
from tests.loadtests.conftest import short_run
from tests.support import pid_alive, require_binary

pytestmark = pytest.mark.integration


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
    assert not [pid for pid in result.pids if pid_alive(pid)]


def test_stopping_the_sessions_closes_chromium_in_order(
    tmp_path: Path, chat_service: ManagedProcess
) -> None:
    """Chromium runs in a process group of its own, outside what stopping the sessions kills:
    on SIGTERM the sessions end and close it, and exit cleanly."""
    require_binary("chromium", "chromium")
    out = tmp_path / "browser.jsonl"
    proc = ManagedProcess("browsers", [
        sys.executable, "-m", "loadtests.browser", "drive", "--host", chat_service.url,
        "--sessions", "1", "--duration", "120", "--out", str(out), "--think-time", "0.1,0.2",
    ], 0, log_path=tmp_path / "browsers.log").start()
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert out.read_text().strip(), proc.log_tail()
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("chrom" in p.name() for p in family)
    finally:
        proc.stop()
    assert proc.popen is not None and proc.popen.returncode == 0, proc.log_tail()
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, [p.pid for p in alive]
