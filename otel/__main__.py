"""``python -m otel overhead``: measure what telemetry costs (requests/s and TTFT, off vs on)."""

from __future__ import annotations

import argparse
import sys

from otel.overhead import measure_overhead


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    overhead = commands.add_parser("overhead", help="telemetry off vs on against the instant "
                                                    "simulator, in one run")
    overhead.add_argument("--requests", type=int, default=600, help="per configuration")
    overhead.add_argument("--concurrency", type=int, default=8)
    overhead.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    args = parser.parse_args(argv)
    report = measure_overhead(args.requests, args.concurrency, args.rounds)
    print(report.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
