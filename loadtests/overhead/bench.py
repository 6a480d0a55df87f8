"""The measuring loop: for each point, short rounds on every side in alternating order.

Drift on a shared machine (another job starting, a CPU clocking down) hits every side alike when
the sides take turns in short rounds, rather than one side measuring first and the other after.
Around every round the CPU of the upstream, of the side's server tree and of this client are
read, so CPU per answer is attributed to exactly the answers of that round. Only raw tallies are
kept here; ``summary`` derives every figure from them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from .client import RoundResult, Sample, ask, run_round
from .config import OverheadConfig, Point
from .cpu import tree_cpu_seconds
from .stack import Side, Stack

__all__ = ["PointTallies", "Prompts", "Tally", "measure_point"]

# Idle points: a round must hold every stream open for a whole answer at least twice.
_IDLE_MIN_ANSWERS_PER_ROUND = 2
_IDLE_MAX_ROUNDS = 2
_WARMUP_MAX_STREAMS = 32
# A hit round is this share of a miss round: hits are fast, thousands fit in a second.
_HIT_ROUND_SHARE = 0.5


class Prompts:
    """Request bodies: a never-repeated question each (cache misses), or one question again."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._run = uuid.uuid4().hex[:8]
        self._counter = itertools.count()

    def body(self, question: str) -> bytes:
        return json.dumps({
            "model": self.model, "stream": True,
            "messages": [{"role": "user", "content": question}],
        }).encode()

    def question(self) -> str:
        n = next(self._counter)
        # Distinct numbers and a random tag, so no two questions are alike for a semantic cache.
        return (f"Benchmark {self._run}-{n} {uuid.uuid4().hex[:12]}: how does plan {n} differ "
                f"from plan {n + 7} in price per seat?")

    def new(self) -> bytes:
        return self.body(self.question())


@dataclass
class Tally:
    """Raw results of one side at one point, summed over its rounds."""

    ttfts_s: list[float] = field(default_factory=list)
    answers: int = 0  # complete answers, all of them (the CPU divisor)
    tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)
    answers_per_s: list[float] = field(default_factory=list)  # one per round
    cpu_s: Counter[str] = field(default_factory=Counter)  # "server", "upstream", "client"
    rounds: list[dict[str, float | int | None]] = field(default_factory=list)

    def add(self, result: RoundResult, cpu_s: dict[str, float]) -> None:
        complete = [s for s in result.samples if s.error is None]
        self.ttfts_s.extend(s.ttft_s for s in complete if s.ttft_s is not None)
        self.answers += len(complete)
        self.tokens += sum(s.tokens for s in complete)
        self.errors.update(s.error for s in result.samples if s.error is not None)
        self.cache.update(s.cache for s in complete if s.cache is not None)
        self.answers_per_s.append(result.answers_per_s)
        self.cpu_s.update(cpu_s)
        self.rounds.append({"answers": len(complete), **{
            f"{name}_cpu_s": round(value, 4) for name, value in cpu_s.items()}})


@dataclass
class PointTallies:
    """Everything measured at one point: misses per side, and hits per cached side."""

    point: Point
    streams: int
    round_s: float
    rounds: int
    misses: dict[str, Tally]
    hits: dict[str, Tally]


def _cpu(stack: Stack, side: Side) -> dict[str, float]:
    upstream_pid = stack.upstream_pid if side.upstream_pid is None else side.upstream_pid
    reading = {"upstream": tree_cpu_seconds(upstream_pid), "client": time.process_time()}
    if side.server_pid is not None:
        own = tree_cpu_seconds(side.server_pid)
        reading["server"] = own + sum(tree_cpu_seconds(pid) for pid in side.backend_pids)
        if side.backend_pids:
            reading["proxy"] = own
    return reading


async def _measured_round(
    stack: Stack, side: Side, streams: int, seconds: float, body: Callable[[], bytes],
    ramp_s: float, timeout_s: float, burst: bool,
) -> tuple[RoundResult, dict[str, float]]:
    before = _cpu(stack, side)
    result = await run_round(side.endpoint, streams, seconds, body, ramp_s, timeout_s, burst)
    await asyncio.sleep(stack.settle_s)
    after = _cpu(stack, side)
    return result, {name: after[name] - before[name] for name in after}


def _log_round(out: TextIO, point: Point, side: str, kind: str, result: RoundResult) -> None:
    complete = [s for s in result.samples if s.error is None]
    ttfts = sorted(s.ttft_s for s in complete if s.ttft_s is not None)
    median = f"{ttfts[len(ttfts) // 2] * 1000:.1f} ms" if ttfts else "-"
    errors = len(result.samples) - len(complete)
    out.write(f"  {point.name:>10} {side:<14} {kind:<6} {len(complete):>6} answers, "
              f"{errors} errors, TTFT median {median}\n")


async def measure_point(
    stack: Stack, point: Point, config: OverheadConfig, prompts: Prompts, out: TextIO,
) -> PointTallies:
    """Warm up every side, then alternate measured rounds of new questions, each cached side's
    followed by a round of cache hits."""
    upstream = stack.upstream
    if point.idle:
        rounds = min(config.rounds, _IDLE_MAX_ROUNDS)
        round_s = max(config.round_s, _IDLE_MIN_ANSWERS_PER_ROUND * upstream.answer_s)
        ramp_s = upstream.itl_ms / 1000  # spread the openings over one token gap
    else:
        rounds, round_s = config.rounds, config.round_s
        ramp_s = min(upstream.answer_s, round_s / 2)
    for side in stack.sides:
        await run_round(side.endpoint, min(point.streams, _WARMUP_MAX_STREAMS), config.warmup_s,
                        prompts.new, 0.0, config.timeout_s)
        await asyncio.sleep(stack.settle_s)  # the warm-up's deferred work is not the first round's
    # Cache hits: each cached side warms one question, then repeats it in a shorter round
    # right after its miss round, so a hit's CPU is read beside the same moment's misses.
    repeated: dict[str, bytes] = {}
    if config.hits and not point.idle:
        for side in (s for s in stack.sides if s.cached):
            body = prompts.body(prompts.question())
            warm: Sample = await ask(side.endpoint, body, config.timeout_s)
            if warm.error is None:
                repeated[side.name] = body
            else:
                out.write(f"  {point.name:>10} {side.name}: the warm request failed "
                          f"({warm.error}); hits not measured\n")
    misses = {side.name: Tally() for side in stack.sides}
    hits = {name: Tally() for name in repeated}
    for number in range(rounds):
        order = stack.sides if number % 2 == 0 else tuple(reversed(stack.sides))
        for side in order:
            result, cpu = await _measured_round(stack, side, point.streams, round_s, prompts.new,
                                                ramp_s, config.timeout_s, point.burst)
            misses[side.name].add(result, cpu)
            _log_round(out, point, side.name, "miss", result)
            if side.name in repeated:
                result, cpu = await _measured_round(
                    stack, side, point.streams, round_s * _HIT_ROUND_SHARE,
                    lambda body=repeated[side.name]: body, 0.0, config.timeout_s, point.burst)
                hits[side.name].add(result, cpu)
                _log_round(out, point, side.name, "hit", result)
    return PointTallies(point, point.streams, round_s, rounds, misses, hits)
