"""What every chatperf user shares: workload sessions, think time or pacing, and request ids.

Each user walks seeded sessions of the reference workload (``loadtests.workload``): popular
questions more often (Zipf), rephrased variations, follow-ups that carry the conversation so far
as history, and near-misses. Seeds differ per user (and per worker), so a run is repeatable.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from locust import HttpUser
from locust.event import EventHook
from requests import RequestException, Response

from loadtests.hooks import record
from loadtests.measure import Sample, new_request_headers
from loadtests.users.pacing import wait_time_for
from loadtests.workload import Turn, Workload

__all__ = ["WorkloadUser"]

_user_numbers = itertools.count()


@cache
def _workload() -> Workload:
    return Workload.load()


class WorkloadUser(HttpUser):
    """A user who asks the workload's questions, a session at a time, with history."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        worker = getattr(environment.runner, "worker_index", 0)
        self._rng = random.Random(f"{options.workload_seed}:{worker}:{next(_user_numbers)}")
        self._wait = wait_time_for(options)
        # The session would report each POST to Locust when its headers arrive, as a success;
        # ``hooks.record`` reports it once the answer has ended, failed if the stream did.
        self.client.request_event = EventHook()
        self._turns: Iterator[tuple[Turn, list[dict[str, str]]]] = self._walk()
        self._answer = ""

    def wait_time(self) -> float:
        return self._wait(self)

    def _walk(self) -> Iterator[tuple[Turn, list[dict[str, str]]]]:
        """Endless turns, each with the history of its session so far."""
        while True:
            history: list[dict[str, str]] = []
            for turn in _workload().sample_session(self._rng):
                self._answer = ""
                yield turn, list(history)
                history += [{"role": "user", "content": turn.question},
                            {"role": "assistant", "content": self._answer or turn.label}]

    def next_turn(self) -> tuple[Turn, list[dict[str, str]]]:
        return next(self._turns)

    def remember_answer(self, text: str) -> None:
        """The assistant's answer to the current turn, for the next turn's history."""
        self._answer = text

    def send(self, kind: str, path: str, body: dict[str, Any], turn: Turn,
             read: Callable[[Response, Sample], str]) -> None:
        """POST ``body``; ``read`` fills the sample from a 200 response and returns the answer.

        Whatever happens — an error status, a stream cut off, a malformed event — the request
        ends as one sample, so errors are counted, never lost to an exception in the user.
        """
        headers = new_request_headers()
        sample = Sample.begin(kind, headers, turn.kind)
        response = self.client.post(path, json=body, headers=headers, name=path,
                                    stream=kind != "quick")
        try:
            sample.status = response.status_code
            if response.status_code != 200:
                sample.fail(f"HTTP {response.status_code}" if response.status_code
                            else f"connection: {response.error}")
            else:
                self.remember_answer(read(response, sample))
        except (RequestException, ValueError) as exc:
            sample.fail(f"{type(exc).__name__}: {exc}")
        finally:
            response.close()
        record(self.environment, sample, path)
