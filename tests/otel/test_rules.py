"""The generated Prometheus rules: current, in step with targets.yaml, valid, and unit-tested.

``promtool`` (Debian package ``prometheus``) checks the file and runs the unit tests in
``otel/rules/tests``; without it these tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import otel.rules
from otel import semconv
from otel.rules import RULES_PATH, load_targets, render_rules
from otel.rules.__main__ import main
from otel.rules.generate import BURN_RATE_WINDOWS, PAGE_HIT_RATE_FACTOR, PAGE_MEAN_FACTOR
from tests.support import require_binary

TESTS_DIR = RULES_PATH.parent / "tests"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool", "prometheus")


def _rules() -> dict[str, list[dict]]:
    """Committed rules by kind: {"record": [...], "alert": [...]}."""
    groups = yaml.safe_load(RULES_PATH.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    return {kind: [r for r in rules if kind in r] for kind in ("record", "alert")}


def _numbers(expr: str) -> set[float]:
    """The numbers an expression compares against, rounded to absorb float noise."""
    return {round(float(n), 9) for n in re.findall(r"[<>]\s*\(?([0-9.]+)", expr)}


def test_committed_rules_are_generated_from_targets() -> None:
    assert RULES_PATH.read_text() == render_rules(load_targets()), (
        "otel/rules/chatperf.rules.yml is stale: run python -m otel.rules"
    )


def test_ttft_target_is_a_bucket_edge() -> None:
    # The SLI counts the bucket at the target; no such bucket, no SLI.
    assert load_targets().perceived_p95_seconds in semconv.TTFT_BUCKETS_S


def test_threshold_alerts_use_the_targets() -> None:
    targets = load_targets()
    expected = {
        ("cache_hit_rate_min", "ticket"): targets.cache_hit_rate_min,
        ("cache_hit_rate_min", "page"): targets.cache_hit_rate_min * PAGE_HIT_RATE_FACTOR,
        ("full_response_avg_seconds_max", "ticket"): targets.full_response_avg_seconds_max,
        ("full_response_avg_seconds_max", "page"):
            targets.full_response_avg_seconds_max * PAGE_MEAN_FACTOR,
    }
    found = {
        (a["labels"]["slo"], a["labels"]["severity"]): _numbers(a["expr"])
        for a in _rules()["alert"]
        if (a["labels"]["slo"], a["labels"]["severity"]) in expected
    }
    assert found == {key: {round(value, 9)} for key, value in expected.items()}


@pytest.mark.parametrize(
    ("slo", "budget"),
    [
        ("perceived_p95_seconds", 1 - load_targets().perceived_quantile),
        ("error_rate_max", load_targets().error_rate_max),
    ],
)
def test_burn_rate_alerts_use_the_error_budget(slo: str, budget: float) -> None:
    alerts = [a for a in _rules()["alert"] if a["labels"]["slo"] == slo]
    assert sorted(a["labels"]["severity"] for a in alerts) == ["page", "ticket"]
    for alert in alerts:
        pairs = re.findall(r"\(([0-9.]+) \* ([0-9.]+)\)", alert["expr"])
        severity = alert["labels"]["severity"]
        factors = {w.factor for w in BURN_RATE_WINDOWS if w.severity == severity}
        assert {float(f) for f, _ in pairs} == factors
        assert {round(float(b), 9) for _, b in pairs} == {round(budget, 9)}


def test_every_alert_has_runbook_and_uses_recorded_figures() -> None:
    rules = _rules()
    recorded = {r["record"] for r in rules["record"]}
    for alert in rules["alert"]:
        assert alert["annotations"]["runbook"].startswith("1. ")
        assert alert["labels"]["severity"] in {"page", "ticket"}
        used = set(re.findall(r"job:[a-z0-9_]+:[a-z0-9_]+", alert["expr"]))
        assert used and used <= recorded, used - recorded
    slos = {a["labels"]["slo"] for a in rules["alert"]}
    assert slos == {f.name for f in dataclasses.fields(load_targets())}


def test_generator_follows_targets() -> None:
    changed = dataclasses.replace(load_targets(), cache_hit_rate_min=0.4)
    assert "< 0.4\n" in render_rules(changed)
    assert render_rules(changed) != render_rules(load_targets())


def test_check_reports_stale_file_and_write_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("groups: []\n")
    monkeypatch.setattr(otel.rules, "RULES_PATH", path)
    assert main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert main([]) == 0
    assert path.read_text() == render_rules(load_targets())
    assert main(["--check"]) == 0


def test_promtool_check_rules(promtool: str) -> None:
    result = subprocess.run([promtool, "check", "rules", str(RULES_PATH)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests(promtool: str) -> None:
    files = sorted(TESTS_DIR.glob("*.yml"))
    assert {f.stem for f in files} >= {"ttft", "errors", "cache", "full_response"}
    result = subprocess.run([promtool, "test", "rules", *map(str, files)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("test_file", "loosened"),
    [
        ("cache.yml", {"cache_hit_rate_min": 0.05}),
        ("full_response.yml", {"full_response_avg_seconds_max": 30.0}),
        ("errors.yml", {"error_rate_max": 0.5}),
    ],
)
def test_promtool_tests_notice_other_thresholds(
    promtool: str, tmp_path: Path, test_file: str, loosened: dict[str, float]
) -> None:
    # The unit tests pin behaviour to the targets: rules generated from looser targets fail them.
    (tmp_path / RULES_PATH.name).write_text(
        render_rules(dataclasses.replace(load_targets(), **loosened))
    )
    (tmp_path / "tests").mkdir()
    shutil.copy(TESTS_DIR / test_file, tmp_path / "tests" / test_file)
    result = subprocess.run([promtool, "test", "rules", str(tmp_path / "tests" / test_file)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
