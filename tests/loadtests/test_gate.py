"""The gate's exit codes, baseline margins and CI files, on synthetic run folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from loadtests.gate import compare_baseline, main
from loadtests.summary import build_summary
from tests.loadtests.conftest import TARGETS, run_meta, sample


def _run_folder(root: Path, hit_share: float = 0.4, ttft_ms: float = 400.0) -> Path:
    hits = int(100 * hit_share)
    samples = ([sample(cache="hit", tier="exact", ttft_ms=5.0, total_ms=60.0)] * hits
               + [sample(ttft_ms=ttft_ms)] * (100 - hits))
    run_dir = root / "run"
    run_dir.mkdir(parents=True)
    summary = build_summary(samples, TARGETS, run_meta())
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_pass_writes_markdown_and_junit(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path)
    assert main([str(run_dir)]) == 0
    assert "PASS" in (run_dir / "gate.md").read_text()
    suite = ET.parse(run_dir / "junit.xml").getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "0"


def test_missed_target_exits_1_with_the_reason(
        tmp_path: Path, write_targets: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _run_folder(tmp_path)
    strict = write_targets(perceived_p95_seconds=0.1)
    assert main([str(run_dir), "--targets", str(strict)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "perceived response (TTFT) p95" in out
    failures = ET.parse(run_dir / "junit.xml").getroot().findall(".//failure")
    assert [f.get("message", "").split(":")[0] for f in failures] == [
        "perceived response (TTFT) p95"]


@pytest.mark.parametrize("content", [None, "{not json", '{"requests": 3}', "[]"])
def test_missing_or_corrupt_run_folder_is_a_harness_error(tmp_path: Path,
                                                          content: str | None) -> None:
    run_dir = tmp_path / "run"
    if content is not None:
        run_dir.mkdir()
        (run_dir / "summary.json").write_text(content)
    assert main([str(run_dir)]) == 2


def test_zero_requests_is_a_harness_error(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["requests"] = 0
    (run_dir / "summary.json").write_text(json.dumps(summary))
    assert main([str(run_dir)]) == 2


def test_regression_beyond_the_margin_fails_noise_within_it_passes(tmp_path: Path) -> None:
    baseline_dir = _run_folder(tmp_path / "a", ttft_ms=400.0)
    baseline = baseline_dir / "summary.json"
    noisy = _run_folder(tmp_path / "b", ttft_ms=440.0)  # +10 %: noise
    regressed = _run_folder(tmp_path / "c", ttft_ms=700.0)  # +75 %: a regression
    assert main([str(noisy), "--baseline", str(baseline)]) == 0
    assert main([str(regressed), "--baseline", str(baseline)]) == 1
    assert "vs baseline" in (regressed / "gate.md").read_text()


def test_margins_are_relative_plus_absolute_and_respect_direction() -> None:
    base = {"ttft_p95_s": 0.5, "cache_hit_rate": 0.4}
    rows = {r["metric"]: r for r in compare_baseline(
        {"ttft_p95_s": 0.64, "cache_hit_rate": 0.32}, base)}
    assert rows["ttft_p95_s"]["limit"] == pytest.approx(0.5 * 1.2 + 0.05)
    assert rows["ttft_p95_s"]["passed"] is True
    assert rows["cache_hit_rate"]["limit"] == pytest.approx(0.4 * 0.9 - 0.03)
    assert rows["cache_hit_rate"]["passed"] is False


def test_a_bad_baseline_file_is_a_harness_error(tmp_path: Path) -> None:
    run_dir = _run_folder(tmp_path)
    assert main([str(run_dir), "--baseline", str(tmp_path / "nope.json")]) == 2
