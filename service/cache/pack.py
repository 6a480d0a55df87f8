"""Domain packs: a product's words for the cache, as data the service reads at start.

The service knows English (``english.yaml``) and no product. What a product adds — its names,
the words its users use for one thing, its categories, the follow-ups people ask next, the
thresholds calibrated on its questions — is a pack, a YAML file named by ``CHAT_CACHE_PACK``
(the reference workload's is ``loadtests/workload/pack.yaml``)::

    name: acme-docs
    product: [acme]                     # the product's own name: says nothing about a question
    names: [slack, jira, plan_pro]      # a difference always means a different question
    phrases: {pro plan: plan_pro, supported: offer, your staff: VENDOR staff}
    synonyms: |                         # Solr's synonym format
      fee, charge => cost
      kb, help center => knowledge base
    categories:
      billing: {words: [cost, invoice, refund], follow_ups: ["Can I pay by bank transfer?"]}
    thresholds: {local: {strict: 0.6, balanced: 0.98}}

Phrases match words exactly as written, one or several; synonyms cover every form of a word
(its Snowball stem), so ``connect => integrate`` also reads "connecting" — and ``supports =>
offer`` would make the noun "support" a verb too. Upper-case tokens are markers. A pack adds
words and never changes English's: a line with a word English reads is read as English reads it,
and a line joining words English reads apart, or a term listed twice, is refused with its place.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import Stemmer
import yaml

from service.cache.normalize import term_words
from service.settings import SettingsError

__all__ = ["ENGLISH", "MAX_PACK_BYTES", "DomainPack", "load_pack", "stem"]

ENGLISH_FILE = Path(__file__).with_name("english.yaml")
# A pack is a vocabulary, not a corpus: past this it is a mistake (or /dev/zero).
MAX_PACK_BYTES = 1 << 20
MAX_TERM_WORDS = 6
_PACK_SECTIONS = frozenset({"name", "description", "product", "names", "phrases", "synonyms",
                            "categories", "thresholds", "stopwords"})
# English's word lists, each a field of the pack by the same name.
_GRAMMAR = ("particles", "before_cost", "yes_no_openers", "price_after_how_much", "determiners")
_STEMMER = Stemmer.Stemmer("english")
_STEMMER.maxCacheSize = 50_000


def _read(path: Path, setting: str = "CHAT_CACHE_PACK") -> dict[str, Any]:
    where = f"{setting}={str(path)!r}"
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PACK_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read it ({exc})") from exc
    if len(raw) > MAX_PACK_BYTES:
        raise SettingsError(f"{where}: larger than {MAX_PACK_BYTES >> 20} MiB; a pack is a"
                            " vocabulary")
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{where}: not YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{where}: expected a mapping of sections")
    return data


@functools.cache
def _english_data() -> dict[str, Any]:
    return _read(ENGLISH_FILE, "english.yaml")


@functools.cache
def _function_words() -> frozenset[str]:
    """Words the stemmer must leave alone: "why" is not "whi"."""
    data = _english_data()
    words = {w for section in ("stopwords", "fillers", *_GRAMMAR) for w in data[section]}
    return frozenset(words | set(data["intents"]) | set(data["refers_back"]["words"]))


def stem(word: str) -> str:
    """A word's Snowball stem; function words, short words and tokens unchanged."""
    if len(word) <= 3 or not word.isalpha() or word.isupper() or word in _function_words():
        return word
    return _STEMMER.stemWord(word)


@dataclass(frozen=True)
class DomainPack:
    """A vocabulary the analyzer reads with: English's, or English's with a product's over it."""

    name: str
    phrases: dict[tuple[str, ...], tuple[str, ...]]  # words exactly as written -> tokens
    synonyms: dict[str, str]  # stem -> token
    stopwords: frozenset[str]
    product: frozenset[str]  # the product's own name, as tokens
    names: frozenset[str]  # as tokens
    categories: dict[str, frozenset[str]]  # category -> its words as tokens
    follow_ups: dict[str, tuple[str, ...]]
    thresholds: dict[str, dict[str, float]]  # backend -> mode (or "word") -> value
    intents: dict[str, str]
    particles: frozenset[str]
    before_cost: frozenset[str]
    yes_no_openers: frozenset[str]
    price_after_how_much: frozenset[str]
    determiners: frozenset[str]
    refers_back_words: frozenset[str]
    refers_back_starts: frozenset[str]
    entries: int = 0  # rules the product's pack added over English

    def threshold(self, backend: str, key: str) -> float | None:
        """The pack's calibrated value for ``backend`` (``strict``, ``balanced``, ``word``)."""
        return self.thresholds.get(backend, {}).get(key)

    def describe(self) -> dict[str, Any]:
        """For ``/api/cache/stats``: which pack, never where it lies on the server."""
        return {"name": self.name, "entries": self.entries,
                "categories": sorted(self.categories)}


def _words(text: object, where: str) -> tuple[str, ...]:
    found = tuple(term_words(str(text)))
    if not found:
        raise SettingsError(f"{where}: an empty term (two commas, or nothing beside '=>')")
    if len(found) > MAX_TERM_WORDS:
        raise SettingsError(f"{where}: {str(text)!r} has more than {MAX_TERM_WORDS} words")
    return found


def _token(text: str, where: str) -> str:
    """One token: a marker as written, a word as its stem, several words joined as written
    ("knowledge base", "plan_pro" -> "knowledge_base", "plan_pro")."""
    text = text.strip()
    if text.isupper() and " " not in text:
        return text
    found = _words(text, where)
    return stem(found[0]) if len(found) == 1 and "_" not in text else "_".join(found)


def _strings(values: object, where: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise SettingsError(f"{where}: expected a list of words (quote on, off, yes and no:"
                            " YAML reads them as true and false)")
    return [str(v) for v in values]


def _tokens(values: object, where: str) -> frozenset[str]:
    return frozenset(_token(v, where) for v in _strings(values, where))


def _plain(values: object, where: str) -> frozenset[str]:
    return frozenset(v.casefold() for v in _strings(values, where))


class _Rules:
    """Phrases and synonyms, English's first and then a pack's, which may add words but not
    change English's ("fee => cost" makes "fee" a price question, English's "cost")."""

    def __init__(self) -> None:
        self.phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.synonyms: dict[str, str] = {}
        self.where: dict[tuple[str, ...], str] = {}  # each rule's key, and where it stands
        self.english: _Rules | None = None  # English's rules, while a pack's are read

    def english_reading(self, term: tuple[str, ...]) -> tuple[str, ...] | None:
        if self.english is None:
            return None
        if len(term) > 1:
            return self.english.phrases.get(term)
        found = self.english.synonyms.get(stem(term[0]))
        return None if found is None else (found,)

    def add(self, term: tuple[str, ...], result: tuple[str, ...], where: str,
            exact: bool) -> None:
        """``term`` is read as ``result``: as written when ``exact`` (a phrase), else in every
        form of its words (a synonym)."""
        exact = exact or len(term) > 1
        key = term if exact else ("~", stem(term[0]))
        if key in self.where:
            raise SettingsError(f"{where}: {' '.join(term)!r} is already on {self.where[key]}")
        before = self.english_reading(term)
        if before is not None:
            if before == result:
                return  # saying again what English says
            raise SettingsError(f"{where}: English reads {' '.join(term)!r} as"
                                f" {' '.join(before)!r}; a pack cannot change it")
        if exact:
            self.phrases[term] = result
        else:
            self.synonyms[key[1]] = result[0]
        self.where[key] = where

    def read(self, data: Mapping[str, Any], source: str) -> None:
        phrases = data.get("phrases") or {}
        if not isinstance(phrases, dict):
            raise SettingsError(f"{source}: 'phrases' maps words to the tokens they are read as")
        for term, result in phrases.items():
            where = f"{source}, phrase {term!r}"
            tokens = tuple(_token(w, where) for w in str(result).split())
            if not tokens:
                raise SettingsError(f"{where}: an empty result")
            self.add(_words(term, where), tokens, where, exact=True)
        for number, line in enumerate(str(data.get("synonyms") or "").splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                self._synonym_line(line, f"{source}, synonyms line {number}")

    def _synonym_line(self, line: str, where: str) -> None:
        """Solr's format: ``a, b, c`` (each read as the first) or ``a, b => c``."""
        sides = line.split("=>")
        if len(sides) > 2:
            raise SettingsError(f"{where}: more than one '=>'")
        terms = [_words(t, where) for t in sides[0].split(",")]
        targets = sides[1].split(",") if len(sides) == 2 else sides[0].split(",")[:1]
        if len(sides) == 2 and len(targets) != 1:
            raise SettingsError(f"{where}: one term after '=>', the one the others are read as")
        if len(sides) == 1 and len(terms) < 2:
            raise SettingsError(f"{where}: one term alone says nothing; list its synonyms")
        # One rule per key: "price, prices" are one synonym (one stem).
        on_line = list({(t if len(t) > 1 else stem(t[0])): t
                        for t in [*terms, _words(targets[0], where)]}.values())
        # A line with a word English reads is read as English reads it.
        known = list(dict.fromkeys(r for t in on_line if (r := self.english_reading(t))))
        if len(known) > 1:
            raise SettingsError(f"{where}: joins words English reads apart"
                                f" ({', '.join(' '.join(k) for k in known)})")
        result = known[0] if known else (_token(targets[0], where),)
        for term in on_line:
            self.add(term, result, where, exact=False)


def _build(english: Mapping[str, Any], pack: Mapping[str, Any] | None,
           source: str | None) -> DomainPack:
    base = _Rules()
    base.read(english, "english.yaml")
    rules = _Rules()  # the pack's own, over English's
    rules.english = base
    rules.phrases, rules.synonyms = dict(base.phrases), dict(base.synonyms)
    data, label = pack or {}, f"CHAT_CACHE_PACK={source!r}"
    unknown = set(data) - _PACK_SECTIONS
    if unknown:
        raise SettingsError(f"{label}: unknown section(s) {', '.join(sorted(unknown))}")
    rules.read(data, label)
    raw_categories = data.get("categories") or {}
    thresholds = data.get("thresholds") or {}
    if not isinstance(raw_categories, dict) or not all(
            isinstance(spec, dict | None) for spec in raw_categories.values()):
        raise SettingsError(f"{label}: 'categories' maps a name to its words and follow-ups")
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, int | float) for x in v.values())
            for v in thresholds.values()):
        raise SettingsError(f"{label}: 'thresholds' maps a backend to {{mode: number}}")
    categories = {str(name): spec or {} for name, spec in raw_categories.items()}
    return DomainPack(
        name=str(data.get("name") or (Path(source).stem if source else "english")),
        phrases=rules.phrases, synonyms=rules.synonyms,
        stopwords=_plain(english["stopwords"], "english.yaml")
        | _plain(english["fillers"], "english.yaml")
        | _plain(data.get("stopwords"), f"{label}, stopwords"),
        product=_tokens(data.get("product"), f"{label}, product"),
        names=_tokens(data.get("names"), f"{label}, names"),
        categories={name: _tokens(spec.get("words"), f"{label}, category {name}")
                    for name, spec in categories.items()},
        follow_ups={name: tuple(map(str, spec.get("follow_ups") or ()))
                    for name, spec in categories.items()},
        thresholds={str(k): {str(m): float(x) for m, x in v.items()}
                    for k, v in thresholds.items()},
        intents={str(k): str(v) for k, v in english["intents"].items()},
        refers_back_words=_plain(english["refers_back"]["words"], "english.yaml"),
        refers_back_starts=_plain(english["refers_back"]["starts"], "english.yaml"),
        entries=len(rules.where),
        **{section: _plain(english[section], "english.yaml") for section in _GRAMMAR},
    )


ENGLISH = _build(_english_data(), None, None)


def load_pack(path: str | Path | None) -> DomainPack:
    """English with the pack at ``path`` over it (English alone for None); raises
    ``SettingsError`` naming what cannot be read."""
    if path is None:
        return ENGLISH
    return _build(_english_data(), _read(Path(path)), str(path))
