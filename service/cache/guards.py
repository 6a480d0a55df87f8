"""The guards: why a near-miss misses, on every semantic backend.

Similarity alone cannot tell "How much is Pro?" from "What is in Pro?", so a candidate must
first pass guards over the two questions' analyses. The **hard** guards hold in every match
mode: the same markers (a "not" never matches its absence), directions that do not conflict,
intents that ask for the same kind of answer, and the same names and numbers in the same
order. The **word** guard is what ``strict`` adds: no content word swapped for another, and a
word on one side only must be common among cached questions. ``balanced`` leaves that judgement
to the score or to a pair judge (``judge.py``), and gets recall for it.
"""

from __future__ import annotations

from collections.abc import Callable

from rapidfuzz.distance import OSA

from service.cache.analyzer import Analysis
from service.cache.pack import stem

__all__ = ["GENERIC_SHARE", "hard_guards", "passes_guards", "same_word", "unmatched_words",
           "word_guard"]

# A word in at least this share of cached questions (and 3 of them) is generic, not a subject.
GENERIC_SHARE = 0.05
# A bare keyword query ("reset password") may stand for a how/what/yes-no question, but not
# for one that asks for a price, a time, a place, a reason or a number.
_GENERIC_INTENTS = frozenset({"none", "how", "what", "yesno"})

WordTest = Callable[[str, str], bool]


def same_word(a: str, b: str) -> bool:
    """A typo keeps the first letter and about the length; "uninstall" is not "install"."""
    if a[0] != b[0] or abs(len(a) - len(b)) > 1 or min(len(a), len(b)) < 4:
        return False
    limit = 1 if min(len(a), len(b)) < 8 else 2
    return OSA.distance(a, b, score_cutoff=limit) <= limit


def _intents_agree(a: str, b: str, any_form: bool) -> bool:
    """Same intent; or a bare keyword query and a question form; or, with ``any_form``, any two
    question forms (how / what / yes-no), never two kinds of answer (a price and a time)."""
    if a == b:
        return True
    if a not in _GENERIC_INTENTS or b not in _GENERIC_INTENTS:
        return False
    return any_form or "none" in (a, b)


def _order_in(terms: tuple[str, ...], names: frozenset[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in terms if t in names))


def _roles(bound: tuple[str, ...]) -> dict[str, set[str]]:
    roles: dict[str, set[str]] = {}
    for part in bound:
        role, word = part.split(":", 1)
        roles.setdefault(role, set()).add(word)
    return roles


def _directions_agree(a: Analysis, b: Analysis) -> bool:
    """Two questions' directions agree unless they conflict: a role pointing at other words
    ("into Trello" / "into Asana"), or a word in a role on one side that the other side names
    but not in that role ("from Asana" / "into Asana", "export my data to Slack" / "export my
    Slack data"). A direction whose word the other side does not name at all agrees: the guards
    on names and words judge that word."""
    if a.bound == b.bound:
        return True
    ra, rb = _roles(a.bound), _roles(b.bound)
    for role in ra.keys() | rb.keys():
        mine, theirs = ra.get(role, set()), rb.get(role, set())
        if mine and theirs and mine != theirs:
            return False
        for words, other, bound_there in ((mine, b, theirs), (theirs, a, mine)):
            if any(w not in bound_there and (w in other.terms or stem(w) in other.terms)
                   for w in words):
                return False
    return True


def hard_guards(query: Analysis, cached: Analysis, any_form: bool = False) -> bool:
    """Markers, directions, the kind of answer, and names and numbers in the same order.

    ``any_form`` lets the question forms answer each other ("Can I export my data?" / "How do
    I download my data?"): the embedding backends set it, the lexical model does not.
    """
    # The cheap tests first: most candidates fail on names (the directions cost the most).
    if query.markers != cached.markers:
        return False
    if not _intents_agree(query.intent, cached.intent, any_form):
        return False
    if not (query.entities.issubset(cached.terms) and cached.entities.issubset(query.terms)):
        return False
    if not _directions_agree(query, cached):
        return False
    for side, other in ((query, cached), (cached, query)):
        ordered = side.entity_order
        if len(ordered) > 1 and _order_in(other.terms, side.entities) != ordered:
            return False
    return True


def unmatched_words(query: Analysis, cached: Analysis,
                    synonyms: WordTest = lambda a, b: False) -> tuple[list[str], list[str]]:
    """Content words of each side that the other side has in no form (not as a typo, not as a
    word the model puts close)."""
    only_q = [w for w in query.content - cached.content if w not in cached.entities]
    only_c = [w for w in cached.content - query.content if w not in query.entities]

    def same(a: str, b: str) -> bool:
        written_a, written_b = query.word(a), cached.word(b)
        return (same_word(a, b) or same_word(written_a, written_b)
                or synonyms(written_a, written_b))

    return ([w for w in only_q if not any(same(w, o) for o in only_c)],
            [w for w in only_c if not any(same(o, w) for o in only_q)])


def word_guard(query: Analysis, cached: Analysis, generic: Callable[[str], bool],
               synonyms: WordTest = lambda a, b: False) -> bool:
    """No content word swapped for another ("stop streaming" / "stream"), and a word on one
    side only is generic among cached questions. ``synonyms(a, b)`` lets an embedding backend
    say two different words mean the same ("price" / "cost"): then they are not a swap."""
    unmatched_q, unmatched_c = unmatched_words(query, cached, synonyms)
    if unmatched_q and unmatched_c:
        return False  # a word swapped for another: a different subject or action
    return all(generic(w) for w in unmatched_q + unmatched_c)


def passes_guards(query: Analysis, cached: Analysis,
                  generic: Callable[[str], bool] = lambda word: False,
                  synonyms: WordTest = lambda a, b: False, any_form: bool = False) -> bool:
    """The ``strict`` mode's test: every hard guard and the word guard."""
    return (hard_guards(query, cached, any_form)
            and word_guard(query, cached, generic, synonyms))
