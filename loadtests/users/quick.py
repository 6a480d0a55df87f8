"""The quick-check user: ``POST /api/chat/quick``, the instant cache answer or nothing.

A front end calls it before opening a stream; it never reaches the upstream, so its time is
the cache's own latency as a client sees it.
"""

from __future__ import annotations

from locust import task
from requests import Response

from loadtests.measure import Sample
from loadtests.users.base import WorkloadUser

__all__ = ["QuickUser"]


def _read(response: Response, sample: Sample) -> str:
    answer = response.json()
    sample.response_bytes = len(response.content)
    sample.cache = "hit" if answer.get("hit") else "miss"
    sample.tier = answer.get("tier")
    sample.finish()
    return answer.get("answer") or ""


class QuickUser(WorkloadUser):
    """Checks the cache for the workload's questions; a hit is the whole answer."""

    @task
    def check(self) -> None:
        turn, _history = self.next_turn()
        self.send("quick", "/api/chat/quick", {"message": turn.question}, turn, _read)
