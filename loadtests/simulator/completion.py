"""One simulated chat completion: its plan, and the bytes it sends over time.

``Job`` fixes everything about an answer when the request arrives (text, token schedule, fault);
``stream_body`` and ``wait_for_answer`` then play it out, each delay measured from arrival, and
report how it ended to the stats and the request log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from .connection import ClientConnection
from .latency import Schedule
from .stats import Outcome, SimStats
from .wire import DONE, Completion, error_body, sse

__all__ = ["FAULT_PREFIX_TOKENS", "Job", "Playback", "stream_body", "wait_for_answer"]

# Mid-stream faults strike after this many content tokens: enough for a client to have started
# showing an answer, which is the case a gateway must not pass off as complete.
FAULT_PREFIX_TOKENS = 3

_log = logging.getLogger("loadtests.simulator")


@dataclass(frozen=True)
class Job:
    """Everything decided about one answer when its request arrived."""

    request_id: str
    completion: Completion
    schedule: Schedule
    tokens: list[str]
    finish_reason: str
    fault: str | None
    include_usage: bool
    arrived: float

    @property
    def ttft_ms(self) -> int:
        return round(self.schedule.ttft_s * 1000)

    def due(self, index: int) -> float:
        """Monotonic time at which content token ``index`` is due."""
        return self.arrived + self.schedule.offsets_s[index]


@dataclass
class Playback:
    """Shared by both bodies: the job, its connection, and where its ending is reported."""

    job: Job
    connection: ClientConnection
    stats: SimStats
    stall_seconds: float
    stream: bool

    def ended(self, outcome: str, tokens: int, status: int | None) -> None:
        """Count the ending and write the request's log line (``status`` None: nothing sent)."""
        self.stats.generation_ended(outcome, tokens)
        _log.info(
            "POST /v1/chat/completions status=%s model=%s stream=%s ttft_ms=%d tokens=%d "
            "duration_ms=%d outcome=%s id=%s",
            "-" if status is None else status, self.job.completion.model,
            str(self.stream).lower(), self.job.ttft_ms, tokens,
            (time.monotonic() - self.job.arrived) * 1000,
            outcome if self.job.fault is None else f"{outcome}:{self.job.fault}",
            self.job.request_id,
        )

    def stall(self) -> str:
        """Hold the connection, bounded; cut it if the client is still there at the end."""
        if not self.connection.wait_until(time.monotonic() + self.stall_seconds):
            return Outcome.CANCELLED
        self.connection.cut()
        return Outcome.FAULTED


def _fault_error_chunk() -> dict:
    return error_body(
        "The server had an error while generating this response (simulated).",
        "server_error", "stream_error",
    )


def stream_body(play: Playback) -> Iterator[bytes]:
    """The SSE body: role chunk at once, content tokens on schedule, then finish/usage/[DONE]."""
    job, conn = play.job, play.connection
    fault = job.fault
    usage = job.include_usage
    limit = {
        "stall-first-token": 0,
        "stall-mid-stream": FAULT_PREFIX_TOKENS,
        "cut-mid-stream": FAULT_PREFIX_TOKENS,
        "error-chunk": FAULT_PREFIX_TOKENS,
    }.get(fault or "", len(job.tokens))
    outcome, sent = Outcome.CANCELLED, 0
    play.stats.generation_started()
    try:
        # Sent at once so headers (with X-Sim-TTFT-Ms) reach the client before any token;
        # TTFT is the first *content* token.
        yield sse(job.completion.role_chunk(usage))
        for index, token in enumerate(job.tokens[:limit]):
            if not conn.wait_until(job.due(index)):
                return
            yield sse(job.completion.content_chunk(token, usage))
            sent += 1
        if fault in ("stall-first-token", "stall-mid-stream"):
            outcome = play.stall()
            return
        if fault == "cut-mid-stream":
            conn.cut()
            outcome = Outcome.FAULTED
            return
        if fault == "error-chunk":
            yield sse(_fault_error_chunk())
            outcome = Outcome.FAULTED
            return
        yield sse(job.completion.finish_chunk(job.finish_reason, usage))
        if usage:
            yield sse(job.completion.usage_chunk(sent))
        yield DONE
        outcome = Outcome.COMPLETED
        if fault == "cut-after-done":
            # The whole answer went out; the connection drops before the body's last chunk
            # (a proxy or server closing a stream abruptly): the answer is still complete.
            conn.cut()
    finally:
        # Also reached through GeneratorExit when a write to a departed client fails.
        play.ended(outcome, sent, 200)


def wait_for_answer(play: Playback) -> tuple[int, dict] | None:
    """Non-stream: wait out the whole schedule, then ``(status, body)``.

    ``None`` when there is nothing left to send: the client left or the connection was cut.
    """
    job, conn = play.job, play.connection
    fault = job.fault
    play.stats.generation_started()
    answer: tuple[int, dict] | None = None
    outcome, tokens = Outcome.CANCELLED, 0
    try:
        if fault == "stall-first-token":
            outcome = play.stall()
        elif fault is not None:
            prefix = min(FAULT_PREFIX_TOKENS, len(job.tokens)) - 1
            if conn.wait_until(job.due(prefix)):
                if fault == "error-chunk":
                    answer, outcome = (500, _fault_error_chunk()), Outcome.FAULTED
                elif fault == "cut-mid-stream":
                    conn.cut()
                    outcome = Outcome.FAULTED
                else:
                    outcome = play.stall()
        elif conn.wait_until(job.due(len(job.tokens) - 1)):
            tokens = len(job.tokens)
            body = job.completion.response("".join(job.tokens), job.finish_reason, tokens)
            answer, outcome = (200, body), Outcome.COMPLETED
        return answer
    finally:
        play.ended(outcome, tokens, answer[0] if answer else None)
