"""Where a gunicorn worker's CPU goes under the benchmark's load: yappi inside the real worker.

py-spy cannot attach on these machines (ptrace is not allowed), and cProfile mixes up greenlets.
This starts the service the way production does — gunicorn, one gevent worker, the same app
factory — with a generated gunicorn config whose hooks start yappi (CPU clock, greenlet-aware)
after the worker is ready and save the profile when it exits; no service code changes. The
benchmark's own client drives it at one point against the fixed-delay upstream; the top functions
by own and by cumulative time are printed and written next to the ``.pstat`` file.

``python -m loadtests.overhead.profiling --streams 64 --seconds 20`` (needs ``yappi``, a dev
dependency). yappi slows the worker down, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import pstats
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from loadtests.confidence import percentile
from loadtests.processes import LOOPBACK, ManagedProcess, free_port, start_simulator, wait_for_http

from .bench import Prompts
from .client import Endpoint, run_round
from .config import FIXED, OverheadConfig
from .run import new_run_dir
from .stack import raise_fd_limit, service_env

__all__ = ["main", "profile_worker"]

# The hooks run inside gunicorn; the paths are filled in when the file is written.
_GUNICORN_CONFIG = '''
import yappi

def post_worker_init(worker):
    # What `python -m service` does after loading the app: telemetry's background export.
    worker.wsgi.extensions["chatperf"].telemetry.start_background()
    yappi.set_clock_type("cpu")
    yappi.set_context_backend("greenlet")
    yappi.start(builtins=False)  # profiling every isinstance() would distort the shares

def worker_exit(server, worker):
    yappi.stop()
    yappi.get_func_stats().save({pstat!r}, type="pstat")
'''


def _gunicorn(run_dir: Path, env: dict[str, str], max_streams: int) -> ManagedProcess:
    config = run_dir / "gunicorn_profile.py"
    config.write_text(_GUNICORN_CONFIG.format(pstat=str(run_dir / "worker.pstat")))
    port = free_port()
    env = {**env, "CHAT_METRICS_DIR": tempfile.mkdtemp(prefix="chatperf-metrics-")}
    argv = [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "1",
            "--worker-connections", str(max_streams + 100), "--bind", f"{LOOPBACK}:{port}",
            "--config", str(config), "--log-level", "warning", "service.app:create_app()"]
    proc = ManagedProcess("service-profiled", argv, port, env=env,
                          log_path=run_dir / "service.log").start()
    wait_for_http(f"{proc.url}/healthz", 60, proc)
    return proc


def _top(stats_path: Path, sort: str, limit: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=out)
    stats.sort_stats(sort).print_stats(limit)
    return out.getvalue()


def profile_worker(streams: int, seconds: float, out: Path, limit: int = 30,
                   hits: bool = False) -> Path:
    """Profile one worker under ``streams`` open streams for ``seconds``; the run folder.

    ``hits``: every request repeats one question answered before profiling starts, so the
    profile is the cache-hit path (a request's fixed cost without an upstream call)."""
    raise_fd_limit()
    run_dir = new_run_dir(out)
    config = OverheadConfig()
    sim = start_simulator(FIXED.profile, extra_args=["--log-level", "WARNING"])
    try:
        service = _gunicorn(run_dir, service_env(config, sim.url),
                            config.max_streams_per_worker)
        try:
            prompts = Prompts(config.model)
            endpoint = Endpoint.from_url(service.url)
            ask = prompts.new
            if hits:
                ask = itertools.repeat(prompts.new()).__next__
                asyncio.run(run_round(endpoint, 1, 0.1, ask))  # answered once: then cached
            result = asyncio.run(run_round(endpoint, streams, seconds, ask,
                                           ramp_s=FIXED.answer_s))
        finally:
            service.stop(grace_seconds=30)
    finally:
        sim.stop()
    pstat = run_dir / "worker.pstat"
    if not pstat.exists():
        raise RuntimeError(f"the worker wrote no profile; see {run_dir / 'service.log'}")
    ttfts = [s.ttft_s for s in result.samples if s.ttft_s is not None]
    p50 = percentile(ttfts, 0.50)
    head = (f"yappi CPU profile of one gunicorn gevent worker, {streams} streams, {seconds:g} s, "
            f"{'cache hits' if hits else 'fixed upstream'}; "
            f"{sum(s.error is None for s in result.samples)} answers, "
            f"{sum(s.error is not None for s in result.samples)} errors, TTFT p50 "
            f"{'-' if p50 is None else f'{p50 * 1000:.0f} ms'} (profiled, so slower)\n")
    text = "\n".join([head, "== by own time (tottime) ==", _top(pstat, "tottime", limit),
                      "== by cumulative time ==", _top(pstat, "cumulative", limit)])
    (run_dir / "profile.txt").write_text(text)
    print(text)
    return run_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.overhead.profiling",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=30, help="functions listed per ordering")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    parser.add_argument("--hits", action="store_true",
                        help="repeat one cached question: the cache-hit path, no upstream call")
    args = parser.parse_args(argv)
    run_dir = profile_worker(args.streams, args.seconds, args.out, args.top, args.hits)
    print(f"profile: {run_dir / 'worker.pstat'} (open with python -m pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
