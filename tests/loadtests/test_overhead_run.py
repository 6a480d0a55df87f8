"""The overhead benchmark for real: simulator, service and client at a tiny point, end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loadtests.overhead.cli import main
from loadtests.overhead.gate import write_baseline

pytestmark = pytest.mark.integration

_FIXED_TTFT_MS = 50


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Path]:
    """One run at 2 streams, spread and burst, with the short-answer side, through the command
    line, and a baseline written from it."""
    out = tmp_path_factory.mktemp("overhead")
    # Short answers (16 and 8 tokens, 0.35 and 0.19 s) keep the rounds short.
    code = main(["--points", "2", "--arrival", "spread,burst", "--duration", "2s", "--rounds", "2",
                 "--tokens", "16", "--short-tokens", "8", "--warmup", "0.5s", "--out", str(out)])
    assert code == 0
    (run_dir,) = out.glob("overhead-*")
    summary = json.loads((run_dir / "summary.json").read_text())
    baseline = out / "baseline.json"
    write_baseline(summary, baseline)
    return run_dir, summary, baseline


def test_run_folder_has_the_summary_the_table_and_the_page(
    run: tuple[Path, dict[str, Any], Path]
) -> None:
    run_dir, summary, _ = run
    table = (run_dir / "overhead.md").read_text()
    assert "| 2 | direct |" in table and "| 2 | through |" in table
    assert "| 2 burst | through |" in table and "| 2 | through short |" in table
    assert "Fixed cost at 2 burst streams: cache hit" in table
    page = (run_dir / "overhead.html").read_text()
    assert page.count("<svg") == 2 and "<script src" not in page
    assert "Fixed cost per request" in page
    assert [p["name"] for p in summary["points"]] == ["2", "2 burst"]


@pytest.mark.parametrize("index", [0, 1], ids=["spread", "burst"])
def test_figures_are_coherent(run: tuple[Path, dict[str, Any], Path], index: int) -> None:
    _, summary, _ = run
    point = summary["points"][index]
    assert point["burst"] is (index == 1)
    direct, through = point["sides"]["direct"], point["sides"]["through"]
    short = point["sides"]["through short"]
    for side in (direct, through, short):
        assert side["errors"] == 0, side["error_kinds"]
        assert side["answers"] >= 4  # two users, two rounds, at least one answer each
        assert side["tokens_per_answer"] == (8 if side is short else 16)
        # Nothing can answer before the upstream's fixed first token.
        assert side["ttft_ms"]["p50"] >= _FIXED_TTFT_MS
        assert side["answers_per_s"] > 0
        assert side["cpu_ms_per_answer"]["upstream"] > 0
    assert through["cache"] == {"miss": through["answers"]}  # every question was new
    assert through["cpu_ms_per_answer"]["server"] > 0
    assert through["cpu_ratio"] > 0
    hits = point["hits"]["through"]
    assert hits["errors"] == 0 and hits["cache"] == {"hit": hits["answers"]}
    assert hits["cpu_ms_per_answer"]["server"] > 0 and hits["cpu_ratio"] > 0
    # The fixed cost: a hit's CPU, and a miss's from the two lengths (its sign is left to the
    # noise of so short a run on a shared machine).
    fixed = point["fixed_cost_ms"]
    assert fixed["hit"] == hits["cpu_ms_per_answer"]["server"] and fixed["tokens"] == [16, 8]
    assert isinstance(fixed["miss"], float) and isinstance(fixed["per_token"], float)


def test_gate_fails_with_exit_1_when_the_ratio_is_far_over_the_baseline(
    run: tuple[Path, dict[str, Any], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, summary, baseline = run
    record = json.loads(baseline.read_text())
    assert record["cpu_ratio"] == summary["points"][0]["sides"]["through"]["cpu_ratio"]
    assert record["hit_cpu_ratio"] == summary["points"][0]["hits"]["through"]["cpu_ratio"]
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({**record, "cpu_ratio": record["cpu_ratio"] / 10}))
    capsys.readouterr()
    # A short gate run: the verdict, not the figure, is under test (CI runs the real gate).
    assert main(["--gate", "--baseline", str(strict), "--points", str(record["point"]),
                 "--duration", "2s", "--rounds", "1", "--warmup", "0.5s", "--no-hits",
                 "--out", str(tmp_path)]) == 1
    assert "overhead gate: FAIL — CPU per answer rose" in capsys.readouterr().out


def test_gate_without_a_baseline_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--gate", "--baseline", str(tmp_path / "missing.json")]) == 2
