"""A request's fixed cost as instructions, which a busy machine does not move.

``loadtests.overhead.inprocess`` reads CPU time, and on a shared box one version of the code
reads 617 µs a hit in one run and 858 µs in the next: an A/B of a few per cent drowns in that.
Callgrind counts the instructions executed instead, the same for the same code and inputs
whatever else runs. This drives the app in process exactly as ``inprocess`` does (gevent patched,
the WSGI app called as the worker calls it, a real simulator), under ``valgrind
--tool=callgrind`` with counting switched on only around the measured requests
(``callgrind_control``, after a warm-up; start-up and imports are not counted), with a fixed
hash seed, and prints instructions per request.

``python -m loadtests.overhead.instructions --requests 100`` (needs valgrind; ~1 minute). An A/B
of two checkouts: ``PYTHONPATH=/path/to/other python loadtests/overhead/instructions.py`` and
the same from this one; the runs can go side by side, the counts do not interfere. The measured
process runs this file as a script, so it imports the code ``PYTHONPATH`` names, as
``inprocess`` does. ``--tokens 64 --itl-ms 2`` makes every token arrive on its own read, the
per-token cost of a real stream; with the default ``--itl-ms 0`` they arrive together.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["count", "main"]

_KINDS = ("hit", "miss")
_WARM_UP = 10
_STEP_TIMEOUT_S = 600.0


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _STEP_TIMEOUT_S
    while not path.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the measured process ended early (exit {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {path.name} from the measured process in time")
        time.sleep(0.1)


def count(kind: str, requests: int, tokens: int = 1, itl_ms: float = 0.0) -> float:
    """Instructions per request of ``kind`` (``hit`` or ``miss``), counted by callgrind."""
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise RuntimeError("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="chatperf-instructions-") as folder:
        marks = Path(folder)
        log = marks / "valgrind.log"
        command = [valgrind, "--tool=callgrind", "--instr-atstart=no",
                   f"--callgrind-out-file={marks / 'callgrind.out'}", f"--log-file={log}",
                   sys.executable, str(Path(__file__).resolve()), "--measured", kind,
                   "--requests", str(requests), "--tokens", str(tokens),
                   "--itl-ms", str(itl_ms), "--marks", folder]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            for step, switch in (("start", "on"), ("stop", "off")):
                _wait_for(marks / step, process)
                subprocess.run([control, "-i", switch, str(process.pid)], check=True,
                               capture_output=True)
                (marks / f"{step}.ok").touch()
            if process.wait(timeout=_STEP_TIMEOUT_S) != 0:
                raise RuntimeError(f"the measured process failed: see {log}")
        finally:
            if process.poll() is None:
                process.kill()
        found = re.search(r"Collected : (\d+)", log.read_text())
        if found is None:
            raise RuntimeError("callgrind reported no count")
        return int(found.group(1)) / requests


def _measured(kind: str, requests: int, tokens: int, itl_ms: float, marks: Path) -> None:
    """The process valgrind runs: warm up, then the measured requests between two markers."""
    from gevent import monkey

    monkey.patch_all()
    from loadtests.overhead.inprocess import ask, build_app
    from loadtests.processes import start_simulator

    def handshake(step: str) -> None:
        (marks / step).touch()
        while not (marks / f"{step}.ok").exists():
            time.sleep(0.05)

    simulator = start_simulator("fixed", extra_args=[
        "--ttft-ms", "0", "--itl-ms", str(itl_ms), "--output-tokens", str(tokens),
        "--log-level", "WARNING"])
    try:
        app = build_app(simulator.url, telemetry=True)

        def question(serial: int) -> str:
            return ("How do I reset my password?" if kind == "hit"
                    else f"Question number {serial} about invoice {serial * 7919}?")

        for serial in range(_WARM_UP):
            ask(app, question(10**6 + serial))
        handshake("start")
        for serial in range(requests):
            ask(app, question(serial))
        handshake("stop")
    finally:
        simulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="measured requests per kind")
    parser.add_argument("--tokens", type=int, default=1, help="a miss's answer length")
    parser.add_argument("--itl-ms", type=float, default=0.0,
                        help="the simulator's gap between a miss's tokens (0: all at once)")
    parser.add_argument("--kind", choices=(*_KINDS, "both"), default="both")
    parser.add_argument("--measured", choices=_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--marks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measured:
        _measured(args.measured, args.requests, args.tokens, args.itl_ms, args.marks)
        return 0
    kinds = _KINDS if args.kind == "both" else (args.kind,)
    try:
        figures = {kind: count(kind, args.requests, args.tokens, args.itl_ms) for kind in kinds}
    except RuntimeError as exc:
        print(f"instructions: {exc}", file=sys.stderr)
        return 2
    print(f"in process, telemetry on, {args.requests} measured requests each: " + ", ".join(
        f"{kind} {value / 1e6:.3f} M instructions" for kind, value in figures.items())
        + " per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
