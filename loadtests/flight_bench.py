"""``python -m loadtests.flight_bench``: identical cold questions on several instances at once.

Starts the simulator, a throwaway redis-server and N service instances sharing it, then sends
``--callers`` copies of one new question at the same moment, spread round-robin over the
instances, and reports how many upstream calls they made (the simulator counts them) and when
each caller's first token arrived, against the first caller's. ``--compare`` runs the same with
``CHAT_SINGLE_FLIGHT_SHARED=0`` (single flight per worker, as before) on the same stack.

``--cost`` measures what the shared flight costs the answers nobody follows (nearly all): one
instance with it and one without, on the same Redis, take turns answering a closed loop of
distinct questions; each round's CPU of the instance (its process tree) over its answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import httpx

from loadtests.fleet import Fleet, fleet_env, start_fleet
from loadtests.overhead.cpu import tree_cpu_seconds
from loadtests.processes import LOOPBACK, start_redis, start_simulator
from service.sse import iter_events

__all__ = ["FlightFigures", "ask_at_once", "cpu_per_answer", "main"]


@dataclass
class FlightFigures:
    """What one burst of identical questions cost and how its answers arrived."""

    callers: int
    instances: int
    answered: int  # streams that ended with ``done``
    distinct_answers: int
    upstream_calls: int
    first_ttft_ms: float  # the earliest first token, from its caller's send
    ttft_ms_p50: float
    ttft_ms_max: float
    after_first_ms_p50: float  # a caller's first token after the earliest one (same clock)
    after_first_ms_p95: float
    after_first_ms_max: float
    send_spread_ms: float  # first to last send: how "at once" the burst was


@dataclass
class _Caller:
    sent: float = 0.0
    first_token: float | None = None
    text: str = ""
    done: bool = False


def _ask(client: httpx.Client, url: str, question: str, start: threading.Barrier) -> _Caller:
    caller = _Caller()
    start.wait()
    caller.sent = time.perf_counter()
    with client.stream("POST", f"{url}/api/chat/stream", json={"message": question}) as response:
        for event in iter_events(response.iter_lines()):
            if event.event == "token":
                if caller.first_token is None:
                    caller.first_token = time.perf_counter()
                caller.text += event.json()["delta"]
            elif event.event == "done":
                caller.done = True
    return caller


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ask_at_once(urls: Sequence[str], callers: int, simulator_url: str,
                question: str | None = None) -> FlightFigures:
    """Send ``callers`` copies of one question at once, round-robin over ``urls``."""
    question = question or f"What changed in release {uuid.uuid4().hex[:8]}?"
    before = httpx.get(f"{simulator_url}/sim/stats", timeout=5).json()["requests"]
    # Connected beforehand, so the burst is not spread by connection set-up.
    clients = [httpx.Client(timeout=60) for _ in range(callers)]
    try:
        for index, client in enumerate(clients):
            client.get(f"{urls[index % len(urls)]}/healthz")
        start = threading.Barrier(callers)
        with ThreadPoolExecutor(callers) as pool:
            results = list(pool.map(
                lambda i: _ask(clients[i], urls[i % len(urls)], question, start), range(callers)))
    finally:
        for client in clients:
            client.close()
    calls = httpx.get(f"{simulator_url}/sim/stats", timeout=5).json()["requests"] - before
    firsts = [c.first_token for c in results if c.first_token is not None]
    ttfts = [(c.first_token - c.sent) * 1000 for c in results if c.first_token is not None]
    earliest = min(firsts) if firsts else 0.0
    after = [(t - earliest) * 1000 for t in firsts] or [0.0]
    sends = [c.sent for c in results]
    return FlightFigures(
        callers=callers, instances=len(urls), answered=sum(c.done for c in results),
        distinct_answers=len({c.text for c in results}), upstream_calls=calls,
        first_ttft_ms=round(min(ttfts, default=0.0), 1),
        ttft_ms_p50=round(statistics.median(ttfts) if ttfts else 0.0, 1),
        ttft_ms_max=round(max(ttfts, default=0.0), 1),
        after_first_ms_p50=round(_percentile(after, 0.5), 1),
        after_first_ms_p95=round(_percentile(after, 0.95), 1),
        after_first_ms_max=round(max(after), 1),
        send_spread_ms=round((max(sends) - min(sends)) * 1000, 1),
    )


def _closed_loop(url: str, users: int, seconds: float) -> int:
    """``users`` clients asking new questions back to back for ``seconds``; answers made."""
    deadline = time.monotonic() + seconds

    def user() -> int:
        answers = 0
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < deadline:
                question = {"message": f"What is new in build {uuid.uuid4().hex[:12]}?"}
                with client.stream("POST", f"{url}/api/chat/stream", json=question) as response:
                    answers += any(e.event == "done" for e in iter_events(response.iter_lines()))
        return answers

    with ThreadPoolExecutor(users) as pool:
        return sum(pool.map(lambda _: user(), range(users)))


def cpu_per_answer(fleets: dict[str, Fleet], users: int, seconds: float,
                   rounds: int) -> dict[str, list[float]]:
    """CPU milliseconds per answer of each one-instance fleet, round by round, taking turns."""
    figures: dict[str, list[float]] = {label: [] for label in fleets}
    for _ in range(rounds):
        for label, fleet in fleets.items():
            instance = fleet.instances[0]
            before = tree_cpu_seconds(instance.pid)
            answers = _closed_loop(instance.url, users, seconds)
            spent = tree_cpu_seconds(instance.pid) - before
            figures[label].append(round(spent * 1000 / max(answers, 1), 2))
    return figures


def _cost(args: argparse.Namespace, simulator_url: str, redis_url: str) -> None:
    with start_fleet(1, fleet_env(simulator_url, redis_url, CHAT_CACHE="0")) as shared, \
            start_fleet(1, fleet_env(simulator_url, redis_url, CHAT_CACHE="0",
                                     CHAT_SINGLE_FLIGHT_SHARED="0")) as alone:
        _closed_loop(shared.urls[0], args.users, 1.0)  # warm both up, uncounted
        _closed_loop(alone.urls[0], args.users, 1.0)
        figures = cpu_per_answer({"shared": shared, "per worker": alone}, args.users,
                                 args.seconds, args.rounds)
    print("| single flight | CPU ms per answer, by round | median |")
    print("|---|---|---|")
    for label, values in figures.items():
        print(f"| {label} | {' / '.join(f'{v:.2f}' for v in values)} | "
              f"{statistics.median(values):.2f} |")
    ratio = statistics.median(figures["shared"]) / statistics.median(figures["per worker"])
    print(f"\nshared / per worker: {ratio:.3f}")


def _row(label: str, figures: FlightFigures) -> str:
    f = figures
    return (f"| {label} | {f.callers} over {f.instances} | {f.upstream_calls} | "
            f"{f.answered} | {f.first_ttft_ms:.0f} | {f.after_first_ms_p50:.1f} / "
            f"{f.after_first_ms_p95:.1f} / {f.after_first_ms_max:.1f} | {f.send_spread_ms:.0f} |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.flight_bench",
                                     description=__doc__.split("\n\n")[1])
    parser.add_argument("--instances", type=int, default=2, help="service instances (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per instance")
    parser.add_argument("--callers", type=int, default=50, help="identical questions at once")
    parser.add_argument("--bursts", type=int, default=3, help="bursts, each with a new question")
    parser.add_argument("--profile", default="seed", help="simulator latency profile")
    parser.add_argument("--compare", action="store_true",
                        help="also run with single flight per worker (CHAT_SINGLE_FLIGHT_SHARED=0)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--cost", action="store_true",
                        help="instead: CPU per answer nobody follows, shared flight on and off")
    parser.add_argument("--users", type=int, default=16, help="--cost: clients at once")
    parser.add_argument("--seconds", type=float, default=8.0, help="--cost: length of a round")
    parser.add_argument("--rounds", type=int, default=4, help="--cost: rounds per side")
    args = parser.parse_args(argv)

    simulator = start_simulator("fixed" if args.cost else args.profile)
    redis = start_redis()
    redis_url = f"redis://{LOOPBACK}:{redis.port}/0"
    rows: list[tuple[str, FlightFigures]] = []
    try:
        if args.cost:
            _cost(args, simulator.url, redis_url)
            return 0
        for shared in (True, False) if args.compare else (True,):
            env = fleet_env(simulator.url, redis_url,
                            CHAT_CACHE_NAMESPACE=f"flights-{uuid.uuid4().hex[:8]}",
                            CHAT_SINGLE_FLIGHT_SHARED="1" if shared else "0")
            with start_fleet(args.instances, env, args.workers) as fleet:
                for _ in range(args.bursts):
                    figures = ask_at_once(fleet.urls, args.callers, simulator.url)
                    rows.append(("shared" if shared else "per worker", figures))
    finally:
        redis.stop()
        simulator.stop()
    print("| single flight | callers | upstream calls | answered | first TTFT ms | "
          "first token after the first ms p50 / p95 / max | send spread ms |")
    print("|---|---|---|---|---|---|---|")
    for label, figures in rows:
        print(_row(label, figures))
    if args.json:
        print(json.dumps([{"single_flight": label, **asdict(f)} for label, f in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
