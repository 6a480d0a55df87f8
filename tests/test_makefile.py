"""Through make, a run's exit code is said: make itself exits 2 for any failing command, so a
missed target (1) and a harness error (2) reached the shell alike."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from loadtests.summary import build_summary
from tests.loadtests.conftest import TARGETS, run_meta, sample

ROOT = Path(__file__).resolve().parents[1]


def _make_gate(run_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", "gate", f"RUN_DIR={run_dir}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_make_names_a_missed_target_and_a_harness_error_apart(tmp_path: Path) -> None:
    failed = tmp_path / "failed"
    (failed / "logs").mkdir(parents=True)
    summary = build_summary([sample(ttft_ms=3000.0 + i) for i in range(100)], TARGETS,
                            run_meta())
    (failed / "summary.json").write_text(json.dumps(summary))
    missed = _make_gate(failed)
    assert missed.returncode == 2  # make's own code
    assert "make gate: the command exited 1 (a target, threshold or baseline missed)" in \
        missed.stderr
    broken = _make_gate(tmp_path / "nothing-here")
    assert broken.returncode == 2
    assert "make gate: the command exited 2 (a harness error: nothing was judged)" in \
        broken.stderr
