"""The streaming chat user: ``POST /api/chat/stream`` with history, read event by event.

Locust gets one entry per POST, timed to the end of the answer (``hooks.record``); the
figures users notice — time to ``meta``, to the first content token, between tokens, to the
end — are measured while reading the body and kept in the sample (and the entry's context).
"""

from __future__ import annotations

from locust import task
from requests import Response

from loadtests.measure import Sample, counted_lines, read_chat_stream
from loadtests.users.base import WorkloadUser

__all__ = ["ChatUser"]


def _read(response: Response, sample: Sample) -> str:
    return read_chat_stream(counted_lines(response, sample), sample)


class ChatUser(WorkloadUser):
    """Asks the workload's questions through the service's own SSE endpoint."""

    @task
    def ask(self) -> None:
        turn, history = self.next_turn()
        body = {"message": turn.question, "history": history, "model": "auto"}
        self.send("chat", "/api/chat/stream", body, turn, _read)
