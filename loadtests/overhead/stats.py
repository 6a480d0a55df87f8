"""CPU per answer, as the overhead benchmark reports it (percentiles: ``loadtests.confidence``)."""

from __future__ import annotations

__all__ = ["per_answer_ms"]


def per_answer_ms(cpu_seconds: float, answers: int) -> float | None:
    """CPU milliseconds per answer; ``None`` when no answer completed (nothing to divide by)."""
    if answers <= 0:
        return None
    return cpu_seconds * 1000 / answers
