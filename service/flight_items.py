"""What a shared flight's Redis stream carries, and how a worker's callers resume an answer.

A flight's leader writes its items to a Redis stream for the followers (``encode``/``decode``:
compact JSON keyed by kind; ``ABANDONED`` marks a leader that stopped with nobody following).
When a leader stops and another generation of the answer takes over, ``Resume`` passes on only
what the callers do not have yet, and raises ``Interrupted`` where the new answer differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from service.errors import UpstreamFailure
from service.events import Completion, TokenDelta, UpstreamItem

__all__ = ["ABANDONED", "Abandoned", "Entry", "Interrupted", "Resume", "decode", "encode"]


class Interrupted(UpstreamFailure):
    """Raised when a new leader's answer does not continue what this worker's callers have."""

    def __init__(self) -> None:
        super().__init__(
            "upstream_interrupted",
            "the answer's leader stopped and its replacement answered differently; ask again",
            retryable=True,
        )


class Abandoned:
    """The stream's marker: its leader stopped before the end, and nobody was following."""


ABANDONED = Abandoned()
# What one entry of a flight's stream holds: an item of the answer, its failure, or the marker.
Entry = UpstreamItem | UpstreamFailure | Abandoned


def encode(item: Entry) -> bytes:
    """One stream entry's bytes (compact JSON keyed by kind)."""
    if isinstance(item, TokenDelta):
        return orjson.dumps({"t": item.texts})
    if isinstance(item, Completion):
        return orjson.dumps({"c": [item.finish_reason, item.response_model, item.input_tokens,
                                   item.output_tokens, item.reported_ttft_ms]})
    if isinstance(item, UpstreamFailure):
        return orjson.dumps({"f": [item.code, item.message, item.retryable, item.http_status,
                                   item.retry_after]})
    return orjson.dumps({"a": 1})


def decode(raw: str) -> Entry:
    """The item an entry written by ``encode`` holds."""
    value: dict[str, Any] = orjson.loads(raw)
    if "t" in value:
        return TokenDelta(tuple(value["t"]))
    if "c" in value:
        return Completion(*value["c"])
    if "f" in value:
        return UpstreamFailure(*value["f"])
    return ABANDONED


class Resume:
    """The text this worker's callers already have, so that a new generation of the answer
    (a new leader's, or this worker's own call) goes on where they are."""

    def __init__(self) -> None:
        self.text = ""
        self._at = 0  # how much of ``text`` the current generation has repeated

    def restart(self) -> None:
        """A new generation of the answer begins: it is compared from the text's start."""
        self._at = 0

    def deliver(self, item: UpstreamItem) -> Iterator[UpstreamItem]:
        """``item`` less what the callers have; raises ``Interrupted`` where it differs."""
        if isinstance(item, Completion) and self._at < len(self.text):
            raise Interrupted()  # the new answer is shorter than what was already sent
        if not isinstance(item, TokenDelta):
            yield item
            return
        fresh: list[str] = []
        for piece in item.texts:
            have = self.text[self._at:self._at + len(piece)]
            if not piece.startswith(have):
                raise Interrupted()
            if len(piece) > len(have):
                fresh.append(piece[len(have):])
                self.text += piece[len(have):]
            self._at += len(piece)
        if fresh:
            yield TokenDelta(tuple(fresh))
