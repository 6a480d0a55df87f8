"""CPU accounting of a process tree, read against real processes that burn known CPU time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from loadtests.overhead.cpu import process_cpu_seconds, tree_cpu_seconds

# Burn CPU until the process itself has used ``seconds`` of it (CPU time, not wall time, so a
# busy machine only makes it take longer), then say so and wait to be stopped.
_BURN = (
    "import sys, time\n"
    "def burn(seconds):\n"
    "    while time.process_time() < seconds: pass\n"
)
_PARENT = _BURN + (
    "import subprocess\n"
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
    "burn(0.3)\n"
    "child.wait()\n"  # reaped: its CPU moves into this process's cutime/cstime
    "print('burnt', flush=True)\n"
    "time.sleep(60)\n"
)
_CHILD = _BURN + "burn(0.3)\n"


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, _CHILD], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_tree_cpu_counts_the_process_and_its_reaped_child(
    burner: subprocess.Popen[str]
) -> None:
    assert psutil.Process(burner.pid).ppid() == os.getpid()
    # 0.3 s of its own and 0.3 s of its child's, with room for clock-tick rounding.
    assert tree_cpu_seconds(burner.pid) >= 0.55


def test_tree_cpu_includes_live_children() -> None:
    script = _BURN + (
        "import subprocess\n"
        "child = subprocess.Popen([sys.executable, '-c', sys.argv[1]])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = _BURN + "burn(0.3)\nprint('burnt', flush=True)\nimport time; time.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", script, holder], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        child_pid = int(proc.stdout.readline())
        deadline = time.monotonic() + 120
        child = psutil.Process(child_pid)
        while process_cpu_seconds(child) < 0.25:
            assert time.monotonic() < deadline, "the child never burnt its CPU"
            time.sleep(0.05)
        assert [p.pid for p in psutil.Process(proc.pid).children()] == [child_pid]
        assert tree_cpu_seconds(proc.pid) >= 0.25  # the live child's share is in the total
    finally:
        subprocess.run(["kill", "-9", str(child_pid)], check=False)
        proc.kill()
        proc.wait()


def test_a_vanished_process_reads_as_nothing() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert tree_cpu_seconds(proc.pid) == 0.0
