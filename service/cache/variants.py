"""How a hit chooses among a cached question's answers, and what ``temperature`` does to that.

A key may hold several answers (variants), all real upstream answers to the same request. The
rule follows GPTCache's ``temperature`` (its adapter and ``temperature_softmax``), rewritten for
variants rather than search results:

- the variants' scores are 1 for the first answer and 0 for each later one, and a hit draws
  from their softmax at the request's temperature ``T``: ``P(first) = e^(1/T) / (e^(1/T) + n-1)``.
  The first answer is favoured because it is the one the cache's precision was measured with
  and the one every earlier client saw; the later ones share the rest equally, as nothing ranks
  one upstream sample above another. ``T`` = 0 takes the first answer always (the argmax);
  a larger ``T`` flattens the draw toward uniform.
- with ``0 < T < 2`` the lookup itself is skipped with GPTCache's probability
  ``1 / (1 + e^(1/T))`` (the softmax of [0, 1] at ``T``: 12 % at 0.5, 27 % at 1, 38 % near 2);
  ``T >= 2`` (the top of OpenAI's range) always bypasses the cache.
- a request without ``temperature`` never skips the lookup and draws as at ``T`` = 1, OpenAI's
  default.
- within one conversation, the variant served last for that key is left out of the draw when
  there is another, so nobody reads the same answer twice in a row (``T`` = 0 excepted: it
  asks for the first answer, always). A conversation is the client's ``session_id``, else, for
  a stateless client that resends the conversation every turn, its first message; a request
  with neither (a single question) belongs to no conversation and draws from the softmax alone:
  identifying it by its question would make every client asking it one conversation, and the
  repeat rule would override the weights (two answers would strictly alternate).

``Draw`` carries one request's numbers to a backend; ``pick`` is the draw itself (the Redis
backend runs the same rule in its lookup script, so a lookup stays one round trip).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

__all__ = ["TOP_TEMPERATURE", "Draw", "conversation_id", "first_weight", "pick",
           "skip_probability"]

TOP_TEMPERATURE = 2.0
_DEFAULT_TEMPERATURE = 1.0
# e^(1/T) overflows a float below T ≈ 0.0014; such a T is the argmax already.
_ARGMAX_BELOW = 0.002


def skip_probability(temperature: float | None) -> float:
    """The chance that a request at ``temperature`` skips the cache and asks the upstream."""
    if temperature is None or temperature <= 0:
        return 0.0
    if temperature >= TOP_TEMPERATURE:
        return 1.0
    return 1.0 / (1.0 + math.exp(1.0 / temperature)) if temperature >= _ARGMAX_BELOW else 0.0


def first_weight(temperature: float | None) -> float:
    """The first variant's weight against each later one's (1): ``e^(1/T)``; inf at T = 0."""
    t = _DEFAULT_TEMPERATURE if temperature is None else temperature
    return math.inf if t < _ARGMAX_BELOW else math.exp(1.0 / t)


def conversation_id(tenant: str, session_id: str | None, first_message: str | None) -> str:
    """Who must not see one answer twice in a row: the client's session id, else the
    conversation's first message (a stateless client resends it every turn with its history);
    within a tenant. "" (no conversation) for a request with neither."""
    if not session_id and first_message is None:
        return ""
    raw = f"{tenant}\x1f{'s' if session_id else 'm'}\x1f{session_id or first_message}"
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


@dataclass(frozen=True)
class Draw:
    """One hit's choice among variants, as numbers a backend can apply (and a script too)."""

    conversation: str  # ``conversation_id``; "" when unknown: no variant is left out
    weight: float  # ``first_weight``
    roll: float  # uniform in [0, 1)
    # Whether the hit counts toward the key's next answer and may claim its generation: not
    # when nothing could generate it (pre-warm off), which would only cost a round trip.
    claim: bool = True

    @classmethod
    def at(cls, temperature: float | None, conversation: str, claim: bool = True) -> Draw:
        """A fresh draw for one hit at ``temperature`` (None: as at 1) in ``conversation``."""
        return cls(conversation, first_weight(temperature), random.random(), claim)

    @property
    def first_only(self) -> bool:
        return math.isinf(self.weight)


def pick(count: int, last: int | None, draw: Draw) -> int:
    """The variant to serve out of ``count``, never ``last`` when there is another."""
    if count <= 1 or draw.first_only:
        return 0
    choices = [i for i in range(count) if i != last]
    weights = [draw.weight if i == 0 else 1.0 for i in choices]
    target = draw.roll * sum(weights)
    for index, weight in zip(choices, weights, strict=True):
        target -= weight
        if target < 0:
            return index
    return choices[-1]
