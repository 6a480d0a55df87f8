"""Loads the reference workload and generates seeded, labelled chat traffic from it.

The cache evaluation and the Locust users draw from the same generator, so the traffic the hit
rate is measured on is the traffic the load test sends. Every generated question carries its
answer label (which answer is right) and its kind, so precision can be judged and the traffic's
make-up stated.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DATA_FILE", "KINDS", "PACK_FILE", "PARTS", "Canonical", "Turn", "Workload", "typed"]

DATA_FILE = Path(__file__).with_name("questions.yaml")
# The domain pack of the product the workload asks about: `make load` and cache-eval use it.
PACK_FILE = Path(__file__).with_name("pack.yaml")
KINDS = ("exact-repeat", "variation", "follow-up", "new", "near-miss")
PARTS = ("tuning", "heldout")
_NEXT_QUESTION_P = 0.2  # a session goes on to a related standalone question this often
# How people type: the same question arrives with different case, punctuation, greetings, typos.
_LOWERCASE_P, _NO_QUESTION_MARK_P, _GREETING_P, _THANKS_P, _TYPO_P = 0.4, 0.4, 0.3, 0.2, 0.25
_GREETINGS = ("Hi, ", "Hello! ", "hey ", "Quick question: ", "Hi there, ", "Hey, ", "hello ",
              "Hi! ", "OK so ", "Hello, ")
_THANKS = (" please", " thanks", ", thank you", " pls", " thx", ", thanks!", " please?")


def typed(question: str, rng: random.Random) -> str:
    """``question`` as a person might type it; the meaning (and right answer) is unchanged."""
    text = question
    if rng.random() < _TYPO_P:
        words = text.split(" ")
        long_words = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        if long_words:
            i = rng.choice(long_words)
            j = rng.randrange(1, len(words[i]) - 2)
            w = words[i]
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            text = " ".join(words)
    if rng.random() < _NO_QUESTION_MARK_P:
        text = text.rstrip("?")
    if rng.random() < _THANKS_P:
        text = text.rstrip("?") + rng.choice(_THANKS) + ("?" if text.endswith("?") else "")
    if rng.random() < _GREETING_P:
        text = rng.choice(_GREETINGS) + text[0].lower() + text[1:]
    if rng.random() < _LOWERCASE_P:
        text = text.lower()
    return text


@dataclass(frozen=True)
class Turn:
    """One question of a session, with what the right answer is and how it was made."""

    question: str
    label: str  # the right answer's label
    kind: str  # one of KINDS
    canonical: str | None  # the canonical question it derives from
    category: str | None


@dataclass(frozen=True)
class Canonical:
    """One canonical question of the workload with its variations, follow-ups and near-misses."""

    id: str
    category: str
    split: str
    question: str
    variations: tuple[str, ...]
    follow_ups: tuple[str, ...]
    next: tuple[str, ...]
    near_misses: tuple[tuple[str, str], ...]  # (question, label)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Canonical:
        near = []
        for i, item in enumerate(raw.get("near_misses", []), start=1):
            if isinstance(item, str):
                near.append((item, f"{raw['id']}~n{i}"))
            else:
                near.append((item["question"], item.get("label", f"{raw['id']}~n{i}")))
        return cls(raw["id"], raw["category"], raw["split"], raw["question"],
                   tuple(raw["variations"]), tuple(raw.get("follow_ups", [])),
                   tuple(raw.get("next", [])), tuple(near))


@dataclass(frozen=True)
class Workload:
    """The reference workload: canonical questions, traffic mix and popularity, and the seeded
    session generator the load tests and cache-eval draw from."""

    canonical: tuple[Canonical, ...]
    mix: dict[str, float]
    zipf_exponent: float
    long_tail: dict[str, tuple[str, ...]]  # part -> every filled-in one-off question

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> Workload:
        raw = yaml.safe_load(path.read_text())
        long_tail = {}
        for part in PARTS:
            spec = raw["long_tail"][part]
            filled = []
            for template in spec["templates"]:
                pairs = itertools.permutations(spec["fillers"], 2 if "{y}" in template else 1)
                filled += [template.format(x=p[0], y=p[-1]) for p in pairs]
            long_tail[part] = tuple(filled)
        return cls(tuple(Canonical.from_dict(c) for c in raw["canonical"]), dict(raw["mix"]),
                   float(raw["zipf_exponent"]), long_tail)

    def part(self, part: str) -> tuple[Canonical, ...]:
        """Canonical questions of ``part`` ("tuning", "heldout" or "all"), most popular first."""
        chosen = [c for c in self.canonical if part in ("all", c.split)]
        random.Random(0).shuffle(chosen)  # a fixed popularity ranking, not the file's order
        return tuple(chosen)

    def _weights(self, n: int) -> list[float]:
        return [1.0 / (rank ** self.zipf_exponent) for rank in range(1, n + 1)]

    def sample_session(self, rng: random.Random, part: str = "all") -> list[Turn]:
        """One conversation: a first question, maybe a follow-up, maybe a related question."""
        ranked = self.part(part)
        by_id = {c.id: c for c in ranked}
        first_kinds = [k for k in KINDS if k != "follow-up"]
        kind = rng.choices(first_kinds, [self.mix[k] for k in first_kinds])[0]
        if kind == "new":
            tails = [q for p in PARTS if part in ("all", p) for q in self.long_tail[p]]
            question = rng.choice(tails)
            return [Turn(typed(question, rng), f"new:{question}", "new", None, None)]
        item = rng.choices(ranked, self._weights(len(ranked)))[0]
        if kind == "near-miss":
            question, label = rng.choice(item.near_misses)
            return [Turn(typed(question, rng), label, kind, item.id, item.category)]
        turns = [self._ask(item, kind, rng)]
        if item.follow_ups and rng.random() < self._follow_up_p():
            i = rng.randrange(len(item.follow_ups))
            turns.append(Turn(typed(item.follow_ups[i], rng), f"{item.id}>f{i + 1}", "follow-up",
                              item.id, item.category))
        related = [by_id[n] for n in item.next if n in by_id]
        if related and rng.random() < _NEXT_QUESTION_P:
            again = rng.choices(["exact-repeat", "variation"],
                                [self.mix["exact-repeat"], self.mix["variation"]])[0]
            turns.append(self._ask(rng.choice(related), again, rng))
        return turns

    def _follow_up_p(self) -> float:
        """Chance of a follow-up after a first turn, so follow-ups make their share of requests."""
        f = self.mix["follow-up"]
        eligible = (self.mix["exact-repeat"] + self.mix["variation"]) / (1 - f)
        return min(1.0, f / (eligible * (1 - f)))

    @staticmethod
    def _ask(item: Canonical, kind: str, rng: random.Random) -> Turn:
        question = item.question if kind == "exact-repeat" else rng.choice(item.variations)
        return Turn(typed(question, rng), item.id, kind, item.id, item.category)
