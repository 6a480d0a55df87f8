"""The instruction-count tool, run as a user runs it: under valgrind, counting only the measured
requests, so that the same code reads the same whatever else the machine does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

_FIGURES = re.compile(r"hit ([\d.]+) M instructions, miss ([\d.]+) M instructions per request")

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None and os.environ.get("CI") != "true",
    reason="valgrind is not installed (CI installs it)")


def _run(requests: int) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.overhead.instructions", "--requests", str(requests)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    found = _FIGURES.search(done.stdout)
    assert found, done.stdout
    return float(found[1]), float(found[2])


@needs_valgrind
def test_counts_only_the_measured_requests_and_a_miss_costs_more() -> None:
    few, more = _run(4), _run(12)
    # Start-up and warm-up are not counted: per request, four and twelve requests read alike
    # (a count that included the start would read ~3x higher per request with four).
    for small, large in zip(few, more, strict=True):
        assert small == pytest.approx(large, rel=0.1)
    hit, miss = more
    # A miss does everything a hit does and also asks the upstream and stores the answer.
    assert 0 < hit < miss
