"""The streaming chat user: ``POST /api/chat/stream`` with history, read event by event.

Locust's own entry for the POST is the time to the response headers (``stream=True``); the
figures users notice — time to ``meta``, to the first content token, between tokens, to the
end — are measured while reading the body and reported as their own entries by ``hooks.record``.
"""

from __future__ import annotations

from locust import task
from requests import Response

from loadtests.measure import Sample, read_chat_stream
from loadtests.users.base import WorkloadUser

__all__ = ["ChatUser"]


def _read(response: Response, sample: Sample) -> str:
    return read_chat_stream(response.iter_lines(), sample)


class ChatUser(WorkloadUser):
    """Asks the workload's questions through the service's own SSE endpoint."""

    @task
    def ask(self) -> None:
        turn, history = self.next_turn()
        body = {"message": turn.question, "history": history, "model": "auto"}
        self.send("chat", "/api/chat/stream", body, turn, _read)
