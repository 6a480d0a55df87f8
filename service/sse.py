"""Server-Sent Events framing, written and read in one place.

The service writes events with ``format_event``/``format_comment``; the OpenAI-compatible route
writes bare ``data:`` lines; the tests and the load runner read streams with ``iter_events``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "SSEEvent", "format_comment", "format_data", "format_event", "format_token", "iter_events",
]

_TOKEN_HEAD = b'event: token\ndata: {"delta":'
_TOKEN_TAIL = b"}\n\n"


def format_event(name: str, data: dict[str, Any]) -> bytes:
    """One named event; ``data`` is JSON on a single line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def format_token(delta: str) -> bytes:
    """``event: token`` with ``{"delta": …}``: the one event sent per token, built directly."""
    return _TOKEN_HEAD + orjson.dumps(delta) + _TOKEN_TAIL


def format_data(data: dict[str, Any] | str) -> bytes:
    """An unnamed ``data:`` event (the OpenAI wire format); a string is sent as is."""
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    return b"data: " + payload + b"\n\n"


def format_comment(text: str = "ping") -> bytes:
    """A comment line: clients ignore it, proxies see traffic (keep-alive)."""
    return b": " + text.encode() + b"\n\n"


@dataclass(frozen=True)
class SSEEvent:
    """One parsed event; ``comment`` is set for ``:`` lines and ``event`` is then empty."""

    event: str
    data: str
    comment: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


def iter_events(lines: Iterable[str | bytes], include_comments: bool = False) -> Iterator[SSEEvent]:
    """Parse an SSE body given line by line (as ``iter_lines`` yields it).

    An event counts only once its terminating blank line has arrived, as the SSE standard
    dispatches it: a stream cut inside its last event (even just before that blank line) ends
    without it, so a reader waiting for ``done`` sees the stream as cut, never as complete.
    """
    event, data = "", list[str]()
    for raw in lines:
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line == "":
            if data or event:
                yield SSEEvent(event or "message", "\n".join(data))
            event, data = "", []
        elif line.startswith(":"):
            if include_comments:
                yield SSEEvent("", "", comment=line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
