"""What one overhead run measures: the sweep, the fixed upstream, the sides compared, the output.

One frozen object built by the command line (or a test) and recorded in ``summary.json``, so a
summary says exactly how its figures were made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ARRIVALS",
    "COMPARES",
    "DEFAULT_ARRIVALS",
    "DEFAULT_POINTS",
    "DIRECT",
    "GATE_POINTS",
    "PEER",
    "SHORT",
    "TELEMETRY_OFF",
    "TELEMETRY_ON",
    "THROUGH",
    "TRANSPORT_HTTPX",
    "TRANSPORT_LEAN",
    "OverheadConfig",
    "Point",
    "Upstream",
    "nginx_side",
    "parse_arrivals",
    "parse_points",
]

COMPARES = ("proxy", "telemetry", "transport")
# How a round's users arrive: spread over one answer's time, or all at the same instant.
ARRIVALS = ("spread", "burst")
DEFAULT_ARRIVALS = "spread,burst"

# The sides (columns) a run compares; every figure is also given against ``DIRECT``.
DIRECT, THROUGH, PEER = "direct", "through", "peer"
# The same service in front of an upstream giving shorter answers: with ``THROUGH``, two answer
# lengths, from which the per-request (fixed) part of a miss's CPU is read.
SHORT = "through short"


def nginx_side(instances: int) -> str:
    """The side through NGINX in front of ``instances`` instances of the service."""
    return f"nginx x{instances}"
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
    """One point of the sweep: ``streams`` open at once; ``idle`` streams get a token every 2 s;
    ``burst``: the users of a round all ask at the same instant, wave after wave."""

    streams: int
    idle: bool = False
    burst: bool = False

    @property
    def name(self) -> str:
        return " ".join([str(self.streams), *(["idle"] if self.idle else []),
                         *(["burst"] if self.burst else [])])

    @property
    def arrival(self) -> str:
        return "burst" if self.burst else "spread"


def parse_points(text: str, arrivals: tuple[str, ...] = ("spread",)) -> tuple[Point, ...]:
    """``"1,16,64,256,1000idle"`` → points, each once per arrival (``spread``, ``burst``); the
    ``idle`` suffix selects the slow-token upstream, a ``burst`` suffix burst arrivals alone."""
    points: list[Point] = []
    for raw in text.split(","):
        words = raw.strip().lower().replace("idle", " idle ").replace("burst", " burst ").split()
        if not words:
            continue
        number, flags = words[0], set(words[1:])
        if not number.isdigit() or int(number) < 1 or not flags <= {"idle", "burst"}:
            raise ValueError(f"not a point: {raw!r} (a stream count, optionally with 'idle')")
        for arrival in ("burst",) if "burst" in flags else arrivals:
            if arrival not in ARRIVALS:
                raise ValueError(f"not an arrival: {arrival!r} (one of {', '.join(ARRIVALS)})")
            point = Point(int(number), "idle" in flags, arrival == "burst")
            if point not in points:
                points.append(point)
    if not points:
        raise ValueError("no points given")
    return tuple(points)


def parse_arrivals(text: str) -> tuple[str, ...]:
    """``"spread,burst"`` → the arrivals measured at every point."""
    arrivals = tuple(dict.fromkeys(a.strip().lower() for a in text.split(",") if a.strip()))
    unknown = [a for a in arrivals if a not in ARRIVALS]
    if unknown or not arrivals:
        raise ValueError(f"--arrival takes {' and/or '.join(ARRIVALS)}, comma-separated")
    return arrivals


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
    # Tokens of the ``SHORT`` side's answers (0: no such side; the command line's default is
    # half the fixed upstream's); with that length it gives the per-request part of a miss's CPU.
    short_tokens: int = 0
    # NGINX in front of this many instances, one side each (e.g. (1, 2)); () for none.
    instances: tuple[int, ...] = ()
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
        if self.instances and (self.compare != "proxy" or min(self.instances) < 1):
            raise ValueError("--instances takes instance counts of 1 or more, and goes with "
                             "--compare proxy only")
        if self.short_tokens and not 0 < self.short_tokens < self.fixed.tokens:
            raise ValueError(f"--short-tokens must be below --tokens ({self.fixed.tokens}), "
                             "or 0 for none")

    @property
    def short(self) -> Upstream | None:
        """The short-answer upstream of the ``SHORT`` side, when one is measured."""
        if not self.short_tokens or self.compare != "proxy":
            return None
        return Upstream(self.fixed.profile, self.fixed.ttft_ms, self.fixed.itl_ms,
                        self.short_tokens)

    @property
    def round_s(self) -> float:
        return self.duration_s / self.rounds

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["points"] = [p.name for p in self.points]
        data["arrivals"] = list(dict.fromkeys(p.arrival for p in self.points))
        data["out"] = str(self.out)
        return data
