"""Command line of ``python -m loadtests.simulator``: arguments in, ``SimulatorConfig`` out."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import DEFAULT_STALL_SECONDS, SimulatorConfig
from .faults import FAULT_KINDS, parse_fault
from .profiles import PROFILES
from .server import serve

__all__ = ["main", "parse_args"]


def _fault(spec: str) -> tuple[str, float]:
    try:
        return parse_fault(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    profiles = "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.simulator",
        description="A simulated OpenAI-compatible upstream with a latency model and faults.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="listen port (default 8001)")
    parser.add_argument("--profile", default="seed", choices=list(PROFILES),
                        help=f"latency profile (default seed) — {profiles}")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of all randomness; same seed, same requests → same answers")
    parser.add_argument("--fault", type=_fault, action="append", default=[],
                        metavar="KIND[:RATE]",
                        help=f"inject a fault into a share of requests (rate 0-1, default 1); "
                             f"repeatable; kinds: {', '.join(FAULT_KINDS)}")
    parser.add_argument("--stall-seconds", type=float, default=DEFAULT_STALL_SECONDS,
                        help="how long a stall fault holds a connection (default 600)")
    parser.add_argument("--ttft-ms", type=int, default=None, metavar="MS",
                        help="pin every answer's TTFT to MS milliseconds, zero spread "
                             "(an X-Sim-TTFT-Ms request header still wins)")
    parser.add_argument("--itl-ms", type=float, default=None, metavar="MS",
                        help="pin the gap between tokens to MS milliseconds")
    parser.add_argument("--output-tokens", type=int, default=None, metavar="N",
                        help="pin every answer's length to N tokens (an X-Sim-Output-Tokens "
                             "request header still wins; max_tokens still cuts it)")
    parser.add_argument("--echo", action="store_true",
                        help="answer every question with its own text, verbatim (for testing how "
                             "clients render what a model sends, e.g. markup)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="INFO logs one line per chat completion (default INFO)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> SimulatorConfig:
    args = _parser().parse_args(argv)
    return SimulatorConfig(
        host=args.host, port=args.port, profile_name=args.profile, seed=args.seed,
        faults=tuple(args.fault), stall_seconds=args.stall_seconds, log_level=args.log_level,
        ttft_ms=args.ttft_ms, itl_ms=args.itl_ms, output_tokens=args.output_tokens,
        echo=args.echo,
    )


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv)
    try:
        serve(config)
    except OSError as exc:  # the port: taken, or not ours to bind
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(f"error: cannot listen on {config.host}:{config.port}: {reason}", file=sys.stderr)
        raise SystemExit(2) from None
