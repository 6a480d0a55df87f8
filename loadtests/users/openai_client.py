"""The OpenAI-compatible client user: ``POST /v1/chat/completions`` with ``stream: true``.

Plain HTTP rather than the ``openai`` SDK, so Locust's session, connection pooling and stats
see every request; the service tells a cache hit by the ``X-Cache`` response header.
"""

from __future__ import annotations

from locust import task
from requests import Response

from loadtests.measure import Sample, counted_lines, read_openai_stream
from loadtests.users.base import WorkloadUser

__all__ = ["OpenAIUser"]


def _read(response: Response, sample: Sample) -> str:
    sample.cache = response.headers.get("X-Cache")
    return read_openai_stream(counted_lines(response, sample), sample)


class OpenAIUser(WorkloadUser):
    """Sends the workload's conversations as OpenAI chat completions, streamed."""

    @task
    def complete(self) -> None:
        turn, history = self.next_turn()
        body = {
            "model": "auto", "stream": True, "stream_options": {"include_usage": True},
            "messages": [*history, {"role": "user", "content": turn.question}],
        }
        self.send("openai", "/v1/chat/completions", body, turn, _read)
