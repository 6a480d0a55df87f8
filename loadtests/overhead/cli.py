"""``python -m loadtests overhead``: what the service adds to an answer, side by side in one run.

Starts a fixed-delay upstream (the simulator), the service in front of it and a lean asyncio
client; for each point of the sweep and each arrival (users spread over an answer, or a burst),
alternating short rounds direct and through the service (and through a second service before
shorter answers, for the fixed cost of a request; through NGINX with ``--instances``; through
``--peer``). Writes ``summary.json``, ``overhead.md`` and ``overhead.html`` into
``runs/overhead-<time>/`` and prints the table. ``--gate`` runs the CI point and compares its CPU
ratio, and its cache hits' (the fixed cost), with the committed baseline (exit 1 when either
rose more than its tolerance).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from loadtests.cli import HelpFormatter, exit_codes_epilog

from .config import (
    COMPARES,
    DEFAULT_ARRIVALS,
    DEFAULT_POINTS,
    GATE_POINTS,
    OverheadConfig,
    parse_arrivals,
    parse_points,
)
from .gate import (
    BASELINE_PATH,
    DEFAULT_HIT_TOLERANCE,
    DEFAULT_TOLERANCE,
    check,
    read_baseline,
    write_baseline,
)
from .report import render_markdown
from .run import new_run_dir, run_overhead, write_run

__all__ = ["main", "parse_args"]

# The gate's run: one point, misses then one round of hits, about a minute on 2 cores.
_GATE_DURATION_S = 12.0
_GATE_ROUNDS = 4


def _seconds(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 15s, 500ms, 2m)")
    value, unit = float(match.group(1)), match.group(2) or "s"
    seconds = value / 1000 if unit == "ms" else value * 60 if unit == "m" else value
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return seconds


def _points(text: str) -> str:
    try:
        parse_points(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _instances(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"not instance counts: {text!r} (e.g. 1,2)")
    return tuple(dict.fromkeys(counts))


def _arrivals(text: str) -> tuple[str, ...]:
    try:
        return parse_arrivals(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_EXIT_CODES = {
    0: "measured (with --gate: the CPU ratio is within the tolerance of the baseline)",
    1: "--gate: the service's CPU per answer, or a cache hit's (the fixed cost), as a ratio to "
       "the upstream's, rose past its tolerance",
    2: "harness error: bad options, no baseline for --gate, a process that would not start",
}


def _parser() -> argparse.ArgumentParser:
    d = OverheadConfig()
    p = argparse.ArgumentParser(prog="python -m loadtests overhead", description=__doc__,
                                formatter_class=HelpFormatter,
                                epilog=exit_codes_epilog(_EXIT_CODES, interruptible=False))
    p.add_argument("--points", type=_points, default=None,
                   help=f"streams open at once, comma-separated; 'idle' after a number plays the "
                        f"slow upstream (a token every 2 s) (default: {DEFAULT_POINTS}; "
                        f"gate: {GATE_POINTS})")
    p.add_argument("--arrival", type=_arrivals, default=None,
                   help=f"how a round's users arrive, comma-separated: spread (over one answer's "
                        f"time, each asking again when its answer ends) and/or burst (all at the "
                        f"same instant, wave after wave); every point is measured once per "
                        f"arrival (default: {DEFAULT_ARRIVALS}; gate: spread)")
    p.add_argument("--duration", type=_seconds, default=None,
                   help=f"measured time per side and point, split into --rounds "
                        f"(default: {d.duration_s:g}s; gate {_GATE_DURATION_S:g}s)")
    p.add_argument("--rounds", type=int, default=None,
                   help=f"alternating rounds per side and point (default: {d.rounds})")
    p.add_argument("--warmup", type=_seconds, default=d.warmup_s,
                   help=f"uncounted warm-up per side and point (default: {d.warmup_s:g}s)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="gunicorn workers of the service (default: 1)")
    p.add_argument("--compare", choices=COMPARES, default=d.compare,
                   help="proxy: direct vs through the service (default); telemetry: direct vs "
                        "the service with telemetry off and on (OTLP export); transport: direct "
                        "vs the service on the httpx and on the lean upstream transport")
    p.add_argument("--instances", type=_instances, default=(), metavar="N[,N]",
                   help="also through NGINX (deploy/nginx) in front of N instances of the "
                        "service, one side per count, e.g. 1,2; the instances are started "
                        "with --workers each, the first is also measured directly")
    p.add_argument("--peer", metavar="URL", default=None,
                   help="another OpenAI-compatible proxy in front of the same upstream (see "
                        "--sim-port), measured as a third side")
    p.add_argument("--peer-pid", type=int, default=None,
                   help="the peer's (master) process id, to read its CPU per answer too")
    p.add_argument("--sim-port", type=int, default=None,
                   help="fixed port of the simulated upstream, so a peer can point at it")
    p.add_argument("--ttft-ms", type=int, default=d.fixed.ttft_ms,
                   help=f"the upstream's first-token delay (default: {d.fixed.ttft_ms})")
    p.add_argument("--itl-ms", type=float, default=d.fixed.itl_ms,
                   help=f"the upstream's gap between tokens (default: {d.fixed.itl_ms:g})")
    p.add_argument("--tokens", type=int, default=d.fixed.tokens,
                   help=f"tokens per answer (default: {d.fixed.tokens})")
    p.add_argument("--short-tokens", type=int, default=None,
                   help="tokens of a second service's upstream, measured beside: with --tokens, "
                        "two answer lengths give the fixed CPU of a miss (0: none; default: half "
                        "of --tokens; gate: 0)")
    p.add_argument("--no-hits", action="store_true", help="skip the cache-hit rounds")
    p.add_argument("--out", type=Path, default=d.out, help="parent of the run folder (runs)")
    p.add_argument("--gate", action="store_true",
                   help="run the CI point and fail (exit 1) when CPU per answer, as a ratio to "
                        "the upstream's, rose more than --tolerance over the baseline")
    p.add_argument("--write-baseline", action="store_true",
                   help="run the CI point and record its ratio as the new baseline")
    p.add_argument("--baseline", type=Path, default=BASELINE_PATH,
                   help="baseline file (default: loadtests/overhead/baseline.json)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"allowed rise of the ratio for --gate (default: {DEFAULT_TOLERANCE})")
    p.add_argument("--hit-tolerance", type=float, default=DEFAULT_HIT_TOLERANCE,
                   help=f"allowed rise of the cache hit's CPU ratio (the fixed cost of a "
                        f"request) for --gate (default: {DEFAULT_HIT_TOLERANCE})")
    return p


def parse_args(argv: Sequence[str] | None = None) -> tuple[OverheadConfig, argparse.Namespace]:
    args = _parser().parse_args(argv)
    gating = args.gate or args.write_baseline
    defaults = OverheadConfig()
    try:
        config = OverheadConfig(
            points=parse_points(args.points or (GATE_POINTS if gating else DEFAULT_POINTS),
                                args.arrival or parse_arrivals(
                                    "spread" if gating else DEFAULT_ARRIVALS)),
            duration_s=args.duration or (_GATE_DURATION_S if gating else defaults.duration_s),
            rounds=args.rounds or (_GATE_ROUNDS if gating else defaults.rounds),
            warmup_s=args.warmup, workers=args.workers, compare=args.compare, peer=args.peer,
            peer_pid=args.peer_pid, sim_port=args.sim_port, instances=args.instances,
            fixed=replace(defaults.fixed, ttft_ms=args.ttft_ms, itl_ms=args.itl_ms,
                          tokens=args.tokens),
            hits=not args.no_hits, short_tokens=0 if gating else (
                args.tokens // 2 if args.short_tokens is None else args.short_tokens),
            out=args.out,
        )
    except ValueError as exc:
        _parser().error(str(exc))
    return config, args


def main(argv: Sequence[str] | None = None) -> int:
    config, args = parse_args(argv)
    baseline = None
    if args.gate:
        try:
            baseline = read_baseline(args.baseline)
        except (OSError, ValueError) as exc:
            print(f"overhead gate: cannot read the baseline {args.baseline}: {exc}",
                  file=sys.stderr)
            return 2
        if args.points is None:  # measure what the baseline measured
            config = replace(config, points=parse_points(str(baseline["point"])),
                             duration_s=args.duration or float(baseline["duration_s"]),
                             rounds=args.rounds or int(baseline["rounds"]),
                             workers=int(baseline.get("workers", config.workers)))
    run_dir = new_run_dir(config.out)
    summary = run_overhead(config)
    result = (check(summary, baseline, args.tolerance, args.hit_tolerance)
              if baseline is not None else None)
    if result is not None:
        summary["gate"] = result.to_dict()
    write_run(summary, run_dir)
    print(render_markdown(summary))
    print(f"\nrun folder: {run_dir}")
    if args.write_baseline:
        record = write_baseline(summary, args.baseline)
        print(f"baseline written to {args.baseline}: CPU ratio {record['cpu_ratio']:.2f}x "
              f"at {record['point']} streams, cache hit {record.get('hit_cpu_ratio')}x")
    if result is not None:
        print(f"overhead gate: {'PASS' if result.passed else 'FAIL'} — {result.message}")
        return 0 if result.passed else 1
    return 0
