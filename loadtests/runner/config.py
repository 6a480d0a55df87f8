"""Options of one load run, from the command line and the standard environment variables.

Everything the runner reads from the environment (``OPENAI_BASE_URL`` — only with
``--upstream env``, so a key left in the shell never turns a load run into billed traffic —
``REDIS_URL``, ``GRAFANA_URL``/``GRAFANA_TOKEN``) is read here, once, next to the flags.
``python -m loadtests run`` and ``python -m loadtests soak`` share the options; a soak is a run
with a steady shape, longer defaults and a memory sampler (``--sample-interval``).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests.cli import HelpFormatter, add_strict, exit_codes_epilog
from loadtests.shapes import DEFAULT_SHAPE, SHAPES
from loadtests.simulator.profiles import PROFILES
from loadtests.users.mix import DEFAULT_MIX, MIXES
from loadtests.workload import PACK_FILE

__all__ = ["SOAK_DEFAULTS", "RunConfig", "parse_args", "parse_duration"]

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def _seconds(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 60s, 2m, 1m30s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``2m``, ``1m30s`` or ``1h``."""
    total = _seconds(text)
    if total <= 0:
        raise argparse.ArgumentTypeError("duration must be positive")
    return total


def _parse_warmup(text: str) -> int:
    """Like ``parse_duration``, but ``0`` is allowed: no warm-up."""
    return _seconds(text)


@dataclass(frozen=True)
class RunConfig:
    """One load run. Defaults make plain ``make load`` a meaningful one-minute run."""

    users: int = 30
    spawn_rate: float = 5.0
    duration_s: int = 60
    # Load before the measured part, not counted: the cache fills towards its steady state (the
    # targets come from a system in steady state) and connections and workers warm up.
    warmup_s: int = 20
    profile: str = "seed"
    upstream: str = "simulator"  # or "env": OPENAI_BASE_URL, asked for explicitly
    # Redis key prefix of the started service; None: a fresh one per run, so no run is served
    # answers an earlier run cached.
    cache_namespace: str | None = None
    shape: str = DEFAULT_SHAPE
    mix: str = DEFAULT_MIX
    arrival_rate: float = 5.0
    think_time: str = "0.5,2"
    workload_seed: int = 0
    sim_args: tuple[str, ...] = ()
    targets: Path = Path("targets.yaml")
    out: Path = Path("runs")
    host: str | None = None
    workers: int = 0
    service_workers: int = 1
    # Service instances started behind NGINX (loadtests/nginx.py); 1: one service, no proxy.
    instances: int = 1
    prometheus: bool = False  # --prometheus: scrape every instance during the run
    stop_timeout_s: int = 20
    strict: bool = False  # an inconclusive target (too few samples) fails the run too
    client_metrics_port: int | None = None  # serve the client TTFT for Prometheus here
    baseline: Path | None = None  # an earlier run folder (or its summary.json) to compare with
    thresholds: tuple[str, ...] = ()  # --threshold: extra k6-style ones, e.g. "ttft_p99_s<1.5"
    abort_on_fail: bool = False  # --abort-on-fail: the --threshold ones stop the run when crossed
    rss_interval_s: float | None = None  # sample the service's memory this often (soak)
    upstream_url: str | None = None  # OPENAI_BASE_URL: a real upstream, no simulator
    redis_url: str | None = None  # REDIS_URL: an existing Redis, no throwaway one
    grafana_url: str | None = None
    grafana_token: str | None = None
    browsers: int = 0  # headless browser sessions through the chat page, beside the Locust users
    # The domain pack the started service reads questions with (CHAT_CACHE_PACK): the reference
    # workload's product by default, "none" for English alone.
    pack: str = str(PACK_FILE)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: object) -> RunConfig:
        env = os.environ if environ is None else environ
        upstream_url = env.get("OPENAI_BASE_URL") or None if options.get("upstream") == "env" \
            else None
        return cls(upstream_url=upstream_url,
                   redis_url=env.get("REDIS_URL") or None,
                   grafana_url=env.get("GRAFANA_URL") or None,
                   grafana_token=env.get("GRAFANA_TOKEN") or None, **options)  # type: ignore[arg-type]


# A soak: a longer steady run at moderate load, memory sampled throughout; a longer warm-up so
# that the cache and the workers' first allocations are behind it before growth is measured.
SOAK_DEFAULTS = RunConfig(users=20, duration_s=1800, warmup_s=60, rss_interval_s=5.0)


def _parser(soak: bool, environ: Mapping[str, str]) -> argparse.ArgumentParser:
    d = SOAK_DEFAULTS if soak else RunConfig()
    common = {"formatter_class": HelpFormatter, "epilog": exit_codes_epilog()}
    if soak:
        p = argparse.ArgumentParser(
            prog="python -m loadtests soak", **common,
            description="A long steady load run that also samples the resident memory (RSS) of "
                        "the service's gunicorn master and workers and reports its growth after "
                        "the warm-up (summary.json: rss_growth_pct), besides the usual verdict.")
        p.add_argument("--sample-interval", type=parse_duration, dest="rss_interval_s",
                       default=int(d.rss_interval_s or 5), metavar="DURATION",
                       help=f"time between memory samples (default {d.rss_interval_s:g}s)")
    else:
        p = argparse.ArgumentParser(
            prog="python -m loadtests run", **common,
            description="Start the simulator, Redis (if installed) and the service as needed, run "
                        "Locust headless, print the verdict against targets.yaml and write a run "
                        "folder (summary.json, samples.jsonl, Locust CSVs, report.html).")
    p.add_argument("--users", type=int, default=d.users, help=f"peak users (default {d.users})")
    p.add_argument("--spawn-rate", type=float, default=d.spawn_rate,
                   help=f"users started per second (default {d.spawn_rate:g})")
    p.add_argument("--duration", type=parse_duration, default=d.duration_s,
                   help=f"how long load is measured, e.g. 60s, 2m (default {d.duration_s}s)")
    p.add_argument("--warmup", type=_parse_warmup, default=d.warmup_s, dest="warmup_s",
                   metavar="DURATION",
                   help=f"load before the measured part, not counted (default {d.warmup_s}s; "
                        "0: measure from a cold start)")
    p.add_argument("--profile", choices=list(PROFILES), default=None,
                   help=f"simulator latency profile (default {d.profile}; refused with "
                        "--upstream env or --host, which do not start the simulator)")
    p.add_argument("--upstream", choices=["simulator", "env"], default=d.upstream,
                   help="simulator: the embedded simulator, whatever the shell's OPENAI_* say "
                        "(default); env: the upstream at OPENAI_BASE_URL (real, maybe billed)")
    p.add_argument("--cache-namespace", default=None, metavar="NAME",
                   help="Redis key prefix of the started service (default: a fresh one per "
                        "run, so runs sharing a REDIS_URL do not warm each other's cache); "
                        "name one to reuse its cache on purpose")
    if not soak:
        p.add_argument("--shape", choices=SHAPES, default=d.shape, help="load shape")
    p.add_argument("--mix", choices=list(MIXES), default=d.mix, help="scenario mix")
    if not soak:
        p.add_argument("--arrival-rate", type=float, default=d.arrival_rate,
                       help="requests started per second with --shape arrival")
    p.add_argument("--think-time", default=d.think_time,
                   help=f"seconds between a user's requests, MIN,MAX (default {d.think_time})")
    p.add_argument("--workload-seed", type=int, default=d.workload_seed,
                   help="seed of the users' question sessions")
    p.add_argument("--sim-arg", action="append", default=[], dest="sim_args", metavar="ARG",
                   help="extra simulator argument, repeatable (e.g. --sim-arg=--ttft-ms=200)")
    p.add_argument("--pack", default=d.pack, metavar="FILE",
                   help="domain pack of the started service (CHAT_CACHE_PACK), or 'none' for"
                        " English alone (default: the reference workload's)")
    p.add_argument("--targets", type=Path, default=d.targets, help="targets file")
    p.add_argument("--out", type=Path, default=d.out, help="parent of the run folder")
    if not soak:  # a soak samples the memory of a service it started itself
        p.add_argument("--host", default=None, help="load this running service instead of "
                                                    "starting one (e.g. http://h:8000)")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="Locust worker processes (0: one local process; N: master + N workers)")
    p.add_argument("--service-workers", type=int, default=d.service_workers,
                   help="gunicorn workers of the started service (of each instance)")
    if not soak:  # a soak samples the memory of one service
        p.add_argument("--instances", type=int, default=d.instances, metavar="N",
                       help="service instances sharing one Redis, with NGINX in front of them "
                            "(Debian package nginx) driven by Locust; the report shows each "
                            f"instance's figures and the totals (default {d.instances}: one "
                            "service, no proxy)")
    p.add_argument("--prometheus", action="store_true",
                   help="start Prometheus (Debian package prometheus) scraping every started "
                        "instance (and --client-metrics-port) during the run, with the alert "
                        "rules; its config and data stay in the run folder (prometheus/)")
    p.add_argument("--stop-timeout", type=int, default=d.stop_timeout_s, dest="stop_timeout_s",
                   help="seconds users get to finish their request at the end")
    p.add_argument("--client-metrics-port", type=int, default=None, metavar="PORT",
                   help="serve the load client's TTFT histogram "
                        "(chatperf_client_time_to_first_token_seconds) on "
                        "http://127.0.0.1:PORT/metrics during the run, for Prometheus")
    p.add_argument("--baseline", type=Path, default=None, metavar="RUN_DIR",
                   help="an earlier run folder (or its summary.json): report.html shows "
                        "every key figure's change against it (default: none)")
    p.add_argument("--threshold", action="append", default=[], dest="thresholds",
                   metavar="FIGURE<VALUE",
                   help="extra k6-style threshold on any figure of summary.json, repeatable, "
                        "e.g. 'ttft_p99_s<1.5'; besides the thresholds: of --targets")
    p.add_argument("--abort-on-fail", action="store_true",
                   help="stop the run as soon as a --threshold is crossed (k6's abortOnFail; "
                        "in targets.yaml: {threshold: '<0.05', abortOnFail: true})")
    p.add_argument("--browsers", type=int, default=d.browsers,
                   help="headless chromium sessions chatting through the page beside the users; "
                        "reports their first paint next to the protocol TTFT (default 0: none)")
    add_strict(p, environ)
    return p


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
               *, soak: bool = False) -> RunConfig:
    """A run's options (``soak``: the soak's options and defaults)."""
    env = os.environ if environ is None else environ
    parser = _parser(soak, env)
    args = vars(parser.parse_args(argv))
    if args["profile"] is not None and (args["upstream"] == "env" or args.get("host")):
        parser.error(f"--profile {args['profile']} is the simulator's, and this run starts none "
                     f"({'--host' if args.get('host') else '--upstream env'})")
    if args["upstream"] == "env" and not env.get("OPENAI_BASE_URL") and not args.get("host"):
        parser.error("--upstream env needs OPENAI_BASE_URL (the upstream's /v1 URL)")
    if args.get("instances", 1) < 1:
        parser.error("--instances must be 1 or more")
    if args.get("instances", 1) > 1 and args.get("host"):
        parser.error("--instances starts its own instances; --host loads a running service")
    args["profile"] = args["profile"] or RunConfig.profile
    args["duration_s"] = args.pop("duration")
    args["sim_args"] = tuple(args["sim_args"])
    args["thresholds"] = tuple(args["thresholds"])
    if soak:
        args["rss_interval_s"] = float(args["rss_interval_s"])
    return RunConfig.from_env(environ, **args)
