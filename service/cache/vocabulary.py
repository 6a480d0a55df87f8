"""A deployment's own words for the cache: a synonyms file read beside the built-in lexicon.

The lexicon knows how people word questions to a SaaS product in general; each product also has
words of its own (its features, what its users call them). ``CHAT_CACHE_SYNONYMS`` names a file
in the synonym format Solr and Elasticsearch read, so a team can keep one list for its search
and its cache::

    # equivalent terms: each one is read as the first
    workspace, organisation, org
    # explicit: the terms on the left are read as the one on the right
    kb, help center => knowledge base

A term may be several words; a term of several words that others are read as becomes one token
("knowledge_base"). A one-word term is read as its token inside the lexicon's phrases too
("end my sub" is the lexicon's "end my subscription" with ``sub => subscription``). The file
adds words to the lexicon's and never changes them: a line with a word the lexicon knows
("price, cost, fee") is read as the lexicon reads that word ("cost", the price intent), and a
line joining two words the lexicon reads apart is refused, as is a term on two lines. Every
worker must read the same file: the words decide the variation tier's keys, shared in Redis.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from service.cache import lexicon
from service.cache.normalize import term_words
from service.settings import SettingsError

__all__ = ["BUILT_IN", "MAX_FILE_BYTES", "MAX_TERM_WORDS", "Vocabulary", "load", "parse"]

# Bounds on a file: its size (every worker holds what it adds, and reads it at start) and the
# words of one term (every question is read phrase by phrase up to the longest term).
MAX_FILE_BYTES = 1 << 20
MAX_TERM_WORDS = 8


@dataclass(frozen=True)
class Vocabulary:
    """The phrase rewrites and one-word synonyms ``analysis`` reads questions with."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    synonyms: dict[str, str]
    source: str | None = None  # the synonyms file's name (never its path), None for none
    entries: int = 0  # rewrites the file added
    # The file's one-word rules: the lexicon's phrases read them as their token too ("end my
    # sub" is "end my subscription" once the file says "sub => subscription").
    file_words: dict[str, str] = field(default_factory=dict)
    digest: str | None = None  # the file's SHA-256, short: every worker must read the same
    longest: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "longest", max(map(len, self.phrases), default=1))


BUILT_IN = Vocabulary(lexicon.PHRASES, lexicon.SYNONYMS)


# Words the lexicon reads as themselves: its canonical words, intents and markers.
_KNOWN = (frozenset(lexicon.SYNONYMS.values()) | frozenset(lexicon.INTENT_WORDS)
          | lexicon.MARKERS | frozenset(t for v in lexicon.PHRASES.values() for t in v
                                        if len(v) == 1))


def _term(text: str, where: str) -> tuple[str, ...]:
    found = tuple(term_words(text))
    if not found:
        raise SettingsError(f"{where}: an empty term (two commas, or nothing beside '=>')")
    if len(found) > MAX_TERM_WORDS:
        # Every question is read phrase by phrase up to the longest term: a 200-word term made
        # each analysis 25 times slower.
        raise SettingsError(f"{where}: a term of {len(found)} words; at most {MAX_TERM_WORDS}")
    return found


def _reading(term: tuple[str, ...], where: str) -> str | None:
    """What the lexicon already reads ``term`` as, or None for a word it does not know."""
    if len(term) > 1:
        found = lexicon.PHRASES.get(term)
        if found is not None and len(found) != 1:
            raise SettingsError(f"{where}: the lexicon reads {' '.join(term)!r} as several"
                                " words; list one of them")
        return found[0] if found else None
    word = term[0]
    return lexicon.SYNONYMS.get(word) or (word if word in _KNOWN else None)


def _canonical(terms: list[tuple[str, ...]], target: tuple[str, ...], where: str) -> str:
    """The token a line's terms are read as: the lexicon's reading of one of them if it has
    one (a file adds words to the lexicon's, never changes them), else the target's words."""
    known: tuple[str, str] | None = None  # (a term as written, the lexicon's reading of it)
    for term in [target, *terms]:
        reading = _reading(term, where)
        if reading is None:
            continue
        if known is not None and reading != known[1]:
            raise SettingsError(
                f"{where}: the lexicon reads {known[0]!r} as {known[1]!r} and"
                f" {' '.join(term)!r} as {reading!r}; a file cannot make them one")
        if known is None:
            known = (" ".join(term), reading)
    return known[1] if known else "_".join(target)


def parse(text: str, source: str = "synonyms") -> dict[tuple[str, ...], str]:
    """Each new term of ``text`` (as the words of a normalised question) and the token it is
    read as; terms the lexicon already reads that way are left to it.

    Raises ``SettingsError`` naming the line of an entry that cannot be read.
    """
    rules: dict[tuple[str, ...], str] = {}
    lines: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        sides = line.split("=>")
        if len(sides) > 2:
            raise SettingsError(f"{where}: more than one '=>'")
        terms = [_term(t, where) for t in sides[0].split(",")]
        if len(sides) == 2:
            targets = [_term(t, where) for t in sides[1].split(",")]
            if len(targets) != 1:
                raise SettingsError(f"{where}: one term after '=>', the one the others are read as")
            target = targets[0]
        else:
            if len(terms) < 2:
                raise SettingsError(f"{where}: one term alone says nothing; list its synonyms")
            target = terms[0]
        on_line = list(dict.fromkeys([*terms, target]))
        for term in on_line:
            if term in lines:
                raise SettingsError(f"{where}: {' '.join(term)!r} is already on line"
                                    f" {lines[term]}")
            lines[term] = number
        token = _canonical(terms, target, where)
        for term in on_line:
            if term != (token,) and _reading(term, where) is None:
                rules[term] = token
    return rules


def _read(path: Path) -> str:
    """The file's text, refusing what is not a regular file of at most ``MAX_FILE_BYTES``
    (``/dev/zero`` would never end)."""
    where = f"CHAT_CACHE_SYNONYMS={str(path)!r}"
    try:
        with path.open("rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise SettingsError(f"{where}: not a regular file")
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise SettingsError(f"{where}: larger than {MAX_FILE_BYTES} bytes; a synonyms file"
                                " lists a product's own words, not a thesaurus")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: cannot read it ({exc})") from exc


def load(path: str | Path) -> Vocabulary:
    """The lexicon with the synonyms file at ``path`` over it."""
    raw = _read(Path(path))
    rules = parse(raw, f"CHAT_CACHE_SYNONYMS={str(path)!r}")
    phrases = dict(lexicon.PHRASES)
    file_words = {term[0]: token for term, token in rules.items() if len(term) == 1}
    phrases.update((term, (token,)) for term, token in rules.items() if len(term) > 1)
    # The lexicon's phrases in the file's words too: "client service" with "client, customer".
    for phrase, replacement in lexicon.PHRASES.items():
        phrases.setdefault(tuple(file_words.get(t, t) for t in phrase), replacement)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return Vocabulary(phrases, {**lexicon.SYNONYMS, **file_words}, Path(path).name, len(rules),
                      file_words, digest)
