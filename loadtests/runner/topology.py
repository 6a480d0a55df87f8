"""``python -m loadtests stack``: the whole topology on loopback, to poke at, until Ctrl-C.

The same parts a run with ``--instances N`` starts (the simulator, Redis, N instances, NGINX in
front: ``runner.stack``), plus Prometheus scraping every instance with a generated config
(``loadtests.prometheus_config``, one ``instance`` label each) when it is installed. Prints
each URL, then waits; Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from loadtests.cli import HelpFormatter, exit_codes_epilog
from loadtests.processes import ManagedProcess, ProcessFailed
from loadtests.runner.config import RunConfig
from loadtests.runner.stack import start_scraper, start_stack
from loadtests.simulator.profiles import PROFILES

__all__ = ["EXIT_CODES", "main", "serve_topology"]

EXIT_CODES = {
    0: "stopped when asked (Ctrl-C or SIGTERM); everything it started was stopped",
    1: "a part could not be started (named on stderr); what had started was stopped",
    2: "bad options",
}


def serve_topology(config: RunConfig, stop: threading.Event, out: TextIO = sys.stdout,
                   prometheus: bool = True) -> list[ManagedProcess]:
    """Start the topology, print where each part is, wait for ``stop``, stop everything.
    Returns the processes it started (all stopped by then)."""
    processes: list[ManagedProcess] = []
    with ExitStack() as stack:
        stack_info = start_stack(config, stack, processes, "chatperf-stack")
        lines = [f"chatperf stack: {stack_info.describe()}",
                 f"  proxy / chat page: {stack_info.host}"]
        lines += [f"  instance {i + 1}: {url} (its own /metrics, /api/cache/stats)"
                  for i, url in enumerate(stack_info.instances)]
        if prometheus:
            try:
                # Removed once Prometheus has stopped (the stack stops in reverse order).
                folder = Path(stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="chatperf-prometheus-")))
                scraper = start_scraper(stack_info, folder, stack, processes)
                lines.append(f"  prometheus: {scraper.url} (one target per instance, label "
                             "instance)")
            except ProcessFailed as exc:
                lines.append(f"  prometheus: not started ({exc})")
        lines.append("Ctrl-C stops everything.")
        out.write("\n".join(lines) + "\n")
        out.flush()
        stop.wait()
    return processes


def _parser() -> argparse.ArgumentParser:
    d = RunConfig(instances=2)
    p = argparse.ArgumentParser(prog="python -m loadtests stack", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
                                epilog=exit_codes_epilog(EXIT_CODES))
    p.add_argument("--instances", type=int, default=d.instances, metavar="N",
                   help="service instances behind NGINX (1: one service, no proxy)")
    p.add_argument("--service-workers", type=int, default=d.service_workers,
                   help="gunicorn workers of each instance")
    p.add_argument("--profile", choices=list(PROFILES), default=d.profile,
                   help="simulator latency profile")
    p.add_argument("--no-prometheus", action="store_false", dest="prometheus",
                   help="do not start Prometheus even when it is installed (default: start "
                        "it when installed)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.instances < 1:
        _parser().error("--instances must be 1 or more")
    config = RunConfig.from_env(instances=args.instances, service_workers=args.service_workers,
                                profile=args.profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        serve_topology(config, stop, prometheus=args.prometheus)
    except KeyboardInterrupt:
        print("\nstopped: everything the stack started has been stopped", file=sys.stderr)
    except ProcessFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
