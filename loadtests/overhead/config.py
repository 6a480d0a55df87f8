"""What one overhead run measures: the sweep, the fixed upstream, the sides compared, the output.

One frozen object built by the command line (or a test) and recorded in ``summary.json``, so a
summary says exactly how its figures were made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "COMPARES",
    "DEFAULT_POINTS",
    "DIRECT",
    "GATE_POINTS",
    "PEER",
    "TELEMETRY_OFF",
    "TELEMETRY_ON",
    "THROUGH",
    "TRANSPORT_HTTPX",
    "TRANSPORT_LEAN",
    "OverheadConfig",
    "Point",
    "Upstream",
    "parse_points",
]

COMPARES = ("proxy", "telemetry", "transport")

# The sides (columns) a run compares; every figure is also given against ``DIRECT``.
DIRECT, THROUGH, PEER = "direct", "through", "peer"
TELEMETRY_OFF, TELEMETRY_ON = "telemetry off", "telemetry on"
TRANSPORT_HTTPX, TRANSPORT_LEAN = "httpx transport", "lean transport"


@dataclass(frozen=True)
class Upstream:
    """The fixed-delay upstream: every answer has exactly this TTFT, token gap and length."""

    profile: str
    ttft_ms: int
    itl_ms: float
    tokens: int

    @property
    def answer_s(self) -> float:
        """How long one answer takes at the upstream, first byte of the request to last token."""
        return (self.ttft_ms + self.itl_ms * (self.tokens - 1)) / 1000


FIXED = Upstream("fixed", 50, 20, 64)
IDLE = Upstream("idle", 50, 2000, 4)


@dataclass(frozen=True)
class Point:
    """One point of the sweep: ``streams`` open at once; ``idle`` streams get a token every 2 s."""

    streams: int
    idle: bool = False

    @property
    def name(self) -> str:
        return f"{self.streams} idle" if self.idle else str(self.streams)


def parse_points(text: str) -> tuple[Point, ...]:
    """``"1,16,64,256,1000idle"`` → points; the ``idle`` suffix selects the slow-token upstream."""
    points = []
    for raw in text.split(","):
        item = raw.strip().lower()
        if not item:
            continue
        idle = item.endswith("idle")
        number = item.removesuffix("idle").strip()
        if not number.isdigit() or int(number) < 1:
            raise ValueError(f"not a point: {raw!r} (a stream count, optionally with 'idle')")
        points.append(Point(int(number), idle))
    if not points:
        raise ValueError("no points given")
    return tuple(points)


DEFAULT_POINTS = "1,16,64,256,1000idle,2000idle"
# The CI gate: one short point, long enough for a steady CPU reading, well under 90 s in all.
GATE_POINTS = "16"


@dataclass(frozen=True)
class OverheadConfig:
    """One run of ``python -m loadtests overhead``."""

    points: tuple[Point, ...] = field(default_factory=lambda: parse_points(DEFAULT_POINTS))
    duration_s: float = 15.0  # measured time per side and point, split into ``rounds``
    rounds: int = 3
    warmup_s: float = 1.0  # per side and point, not counted
    workers: int = 1
    compare: str = "proxy"
    peer: str | None = None  # another OpenAI-compatible proxy in front of the same upstream
    peer_pid: int | None = None  # its process (tree), to read its CPU too
    sim_port: int | None = None  # fixed port of the upstream, so a peer can be pointed at it
    fixed: Upstream = FIXED
    idle: Upstream = IDLE
    hits: bool = True  # also measure cache hits (a repeated prompt) per non-idle point
    model: str = "gpt-4o-mini"
    timeout_s: float = 120.0
    max_streams_per_worker: int = 2500
    out: Path = Path("runs")

    def __post_init__(self) -> None:
        if self.compare not in COMPARES:
            raise ValueError(f"--compare must be one of {', '.join(COMPARES)}")
        if self.rounds < 1 or self.duration_s <= 0:
            raise ValueError("need at least one round and a positive duration")
        if self.peer is not None and self.compare != "proxy":
            raise ValueError("--peer compares proxies; it does not combine with --compare")

    @property
    def round_s(self) -> float:
        return self.duration_s / self.rounds

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["points"] = [p.name for p in self.points]
        data["out"] = str(self.out)
        return data
