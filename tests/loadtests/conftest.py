"""Fixtures of the load-harness tests: synthetic samples, and real short runs of the runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadtests.runner import RunConfig, RunResult, run_load

TARGETS = {"perceived_p95_seconds": 1.0, "cache_hit_rate_min": 0.28,
           "full_response_avg_seconds_max": 6.21, "error_rate_max": 0.01}


def sample(**overrides: Any) -> dict[str, Any]:
    """One ``samples.jsonl`` record of a successful cache-miss chat stream."""
    record = {
        "kind": "chat", "started_epoch_s": 1000.0, "request_id": "r", "trace_id": "t",
        "turn": "new", "ok": True, "status": 200, "error": None, "cache": "miss",
        "tier": None, "model": "gpt-4o-mini", "model_tier": "fast", "meta_ms": 5.0,
        "ttft_ms": 400.0, "total_ms": 5000.0, "itl_ms": 30.0, "output_tokens": 150,
        "server_ttft_ms": 398.0, "server_total_ms": 4998.0, "users": 1,
    }
    record.update(overrides)
    return record


def run_meta(**overrides: Any) -> dict[str, Any]:
    meta = {"id": "test", "started_epoch_s": 1000.0, "finished_epoch_s": 1060.0,
            "duration_s": 60, "users": 1, "profile": "fast"}
    meta.update(overrides)
    return meta


@pytest.fixture(autouse=True)
def _strictness_as_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verdicts here are judged as a laptop judges them: ``--strict`` defaults to on under
    ``CI=true``, which test_cli.py and test_gate.py test by setting it themselves, and a short
    test run is rightly inconclusive. Without this, CI would judge these tests' runs stricter than
    the laptop that wrote them."""
    monkeypatch.delenv("CI", raising=False)


@pytest.fixture
def write_targets(tmp_path: Path) -> Callable[..., Path]:
    """A targets file with the given overrides on top of the project's targets."""

    def write(**overrides: float) -> Path:
        path = tmp_path / f"targets-{len(list(tmp_path.glob('targets-*')))}.yaml"
        values = {**TARGETS, **overrides}
        path.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
        return path

    return write


def short_run(out: Path, **options: Any) -> RunResult:
    """A few seconds of load on the fast simulator profile, quiet, into ``out``.

    No warm-up unless asked for: every request counts, so counts compare exactly.
    """
    settings: dict[str, Any] = {
        "users": 4, "spawn_rate": 4.0, "duration_s": 6, "warmup_s": 0, "profile": "fast",
        "think_time": "0.05,0.2", "stop_timeout_s": 5, "out": out,
        "targets": Path("targets.yaml"),
    }
    settings.update(options)
    return run_load(RunConfig(**settings))


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One short run of the whole harness, shared by a module's assertions."""
    return short_run(tmp_path_factory.mktemp("runs"))
