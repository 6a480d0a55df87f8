"""Locust's distributed mode: a master and workers, samples carried in the workers' reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.loadtests.conftest import short_run

pytestmark = pytest.mark.integration


def test_master_and_workers_write_every_sample_once(tmp_path: Path) -> None:
    result = short_run(tmp_path, workers=2, users=4, duration_s=5)
    lines = (result.run_dir / "samples.jsonl").read_text().splitlines()
    request_ids = [json.loads(line)["request_id"] for line in lines]
    assert len(request_ids) == len(set(request_ids)) > 5
    assert result.summary["locust_entries"]["POST /api/chat/stream"] == len(request_ids)
    assert (result.run_dir / "logs" / "locust-worker-1.log").exists()
