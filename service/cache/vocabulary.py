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
("knowledge_base"). The file's entries win over the lexicon's for the same word or phrase. Every
worker must read the same file: the words decide the variation tier's keys, shared in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from service.cache import lexicon
from service.cache.normalize import normalize, words
from service.settings import SettingsError

__all__ = ["BUILT_IN", "Vocabulary", "load", "parse"]


@dataclass(frozen=True)
class Vocabulary:
    """The phrase rewrites and one-word synonyms ``analysis`` reads questions with."""

    phrases: dict[tuple[str, ...], tuple[str, ...]]
    synonyms: dict[str, str]
    source: str | None = None  # the synonyms file, None for the lexicon alone
    entries: int = 0  # rewrites the file added
    longest: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "longest", max(map(len, self.phrases), default=1))


BUILT_IN = Vocabulary(lexicon.PHRASES, lexicon.SYNONYMS)


def _term(text: str, where: str) -> tuple[str, ...]:
    if not words(text):
        raise SettingsError(f"{where}: an empty term (two commas, or nothing beside '=>')")
    return tuple(normalize(text).split())


def parse(text: str, source: str = "synonyms") -> dict[tuple[str, ...], str]:
    """Each term of ``text`` (as normalised words) and the token it is read as.

    Raises ``SettingsError`` naming the line of an entry that cannot be read.
    """
    rules: dict[tuple[str, ...], str] = {}
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
        token = "_".join(target)
        for term in (*terms, target):
            if term != (token,):
                rules[term] = token
    return rules


def load(path: str | Path) -> Vocabulary:
    """The lexicon with the synonyms file at ``path`` over it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"CHAT_CACHE_SYNONYMS={str(path)!r}: cannot read it ({exc})") from exc
    rules = parse(text, f"CHAT_CACHE_SYNONYMS={str(path)!r}")
    phrases = dict(lexicon.PHRASES)
    synonyms = dict(lexicon.SYNONYMS)
    for term, token in rules.items():
        if len(term) == 1:
            synonyms[term[0]] = token
        else:
            phrases[term] = (token,)
    return Vocabulary(phrases, synonyms, str(path), len(rules))
