"""The in-process fixed-cost tool, run as a user runs it (its own process: it monkey-patches)."""

from __future__ import annotations

import re
import subprocess
import sys

_FIGURES = re.compile(r"hit (\d+) µs, miss \(1 token\) (\d+) µs of CPU per request")


def test_prints_a_hit_and_a_miss_and_a_miss_costs_more() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.overhead.inprocess", "--requests", "30", "--rounds", "1"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found = _FIGURES.search(done.stdout)
    assert found, done.stdout
    hit, miss = int(found[1]), int(found[2])
    # A miss does everything a hit does and also asks the upstream and stores the answer.
    assert 0 < hit < miss
