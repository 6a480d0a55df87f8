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


def _complete(root: Path, name: str, ttft_ms: float = 400.0) -> Path:
    run_dir = _run_folder(root / "tmp" / name, ttft_ms=ttft_ms)
    target = root / "runs" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    (target / "logs").mkdir()
    return target


def test_gate_on_the_runs_folder_skips_an_interrupted_run_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    complete = _complete(tmp_path, "20261201-100000")
    interrupted = tmp_path / "runs" / "20261201-110000"
    (interrupted / "logs").mkdir(parents=True)  # Ctrl-C'd: logs, no summary.json
    assert main([str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert f"skipping {interrupted}: incomplete" in captured.err
    assert str(complete / "gate.md") in captured.out
    assert (complete / "gate.md").exists() and not (interrupted / "gate.md").exists()


def test_gate_on_an_interrupted_run_folder_is_a_harness_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    interrupted = tmp_path / "runs" / "20261201-110000"
    (interrupted / "logs").mkdir(parents=True)
    assert main([str(interrupted)]) == 2
    assert "incomplete run folder" in capsys.readouterr().err


def test_thresholds_on_any_figure_from_the_targets_file_and_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _run_folder(tmp_path)  # TTFT p99 0.4 s, no errors
    targets = tmp_path / "with-thresholds.yaml"
    targets.write_text(Path("targets.yaml").read_text()
                       + 'thresholds:\n  ttft_p99_s: "<1.5"\n  error_rate: ["<0.005", "<=0"]\n')
    assert main([str(run_dir), "--targets", str(targets)]) == 0
    assert "threshold: ttft_p99_s" in capsys.readouterr().out
    assert main([str(run_dir), "--targets", str(targets), "--threshold", "ttft_p99_s<0.3"]) == 1
    failures = ET.parse(run_dir / "junit.xml").getroot().findall(".//failure")
    assert [f.get("message", "").split(":")[0] for f in failures] == ["ttft_p99_s"]
    assert "`ttft_p99_s < 0.3`" in (run_dir / "gate.md").read_text()


def test_an_unknown_threshold_figure_names_the_figures_that_exist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = _run_folder(tmp_path)
    assert main([str(run_dir), "--threshold", "ttft_p999_s<1"]) == 2
    err = capsys.readouterr().err
    assert "unknown figure(s) in thresholds: ttft_p999_s" in err
    assert "ttft_p99_s" in err and "error_rate" in err and "goodput_rps" in err


@pytest.mark.parametrize(("ci", "code"), [("true", 1), ("", 0)])
def test_strict_is_the_default_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        ci: str, code: int) -> None:
    run_dir = _run_folder(tmp_path, hit_share=0.27)  # 27 % of 100 lookups: misses 28 % in noise
    assert json.loads((run_dir / "summary.json").read_text())["verdict"] == "inconclusive"
    monkeypatch.setenv("CI", ci)
    assert main([str(run_dir)]) == code
    assert main([str(run_dir), "--no-strict"]) == 0
