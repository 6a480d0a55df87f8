"""Domain packs: a product's words for the cache, as data the service reads at start.

The service knows English (``english.yaml``) and no product. What a product adds — its names,
the words its users use for one thing, its categories, the follow-ups people ask next, the
thresholds calibrated on its questions — is a pack, a YAML file named by ``CHAT_CACHE_PACK``
(the reference workload's is ``loadtests/workload/pack.yaml``)::

    name: acme-docs
    product: [acme]                     # the product's own name: says nothing about a question
    names: [slack, jira, plan_pro]      # a difference always means a different question
    phrases: {pro plan: plan_pro, sign up: register, your staff: VENDOR staff}
    synonyms: |                         # Solr's synonym format
      price, fee, charge => cost
      kb, help center => knowledge base
    categories:
      billing: {words: [cost, invoice, refund], follow_ups: ["Can I pay by bank transfer?"]}
    thresholds: {local: {strict: 0.6, balanced: 0.5}}

Synonyms compare words as Snowball stems, so ``connect => integrate`` also reads "connecting"
(and ``supports => offer`` would make every "support" a verb); phrases match words exactly as
written, one word or several (``supported: offer``). A synonym term of several words becomes a
phrase; a phrase's result of several words is kept as words,
and a synonym target of several words becomes one token (``knowledge_base``). Upper-case
tokens are markers. English's own words cannot be redefined: a pack line that reads a word
the base reads otherwise is refused with its line, as is a term listed twice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
_SECTIONS = frozenset({"name", "description", "product", "names", "phrases", "synonyms",
                       "categories", "thresholds", "stopwords", "fillers", "particles", "intents",
                       "before_cost", "yes_no_openers", "price_after_how_much", "determiners",
                       "refers_back"})
_STEMMER = Stemmer.Stemmer("english")
_STEMMER.maxCacheSize = 50_000


@functools.lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """Words the stemmer must leave alone: "why" is not "whi"."""
    english = _read(ENGLISH_FILE)
    words: set[str] = set()
    for section in ("stopwords", "fillers", "particles", "before_cost", "yes_no_openers",
                    "price_after_how_much", "determiners"):
        words.update(english.get(section, []))
    words.update(english["intents"])
    words.update(english["refers_back"]["words"])
    return frozenset(words)


def stem(word: str) -> str:
    """A word's Snowball stem; function words, short words and names with digits unchanged."""
    if len(word) <= 3 or not word.isalpha() or word.isupper() or word in _function_words():
        return word
    return _STEMMER.stemWord(word)


@dataclass(frozen=True)
class DomainPack:
    """A vocabulary the analyzer reads with: English's, or English's with a product's over it."""

    name: str
    source: str | None  # the pack file (None for English alone)
    phrases: dict[tuple[str, ...], tuple[str, ...]]  # words exactly as written -> tokens
    synonyms: dict[str, str]  # stem -> token
    stopwords: frozenset[str]
    particles: frozenset[str]
    product: frozenset[str]  # stems of the product's own name
    names: frozenset[str]  # stems of names
    categories: dict[str, frozenset[str]]  # category -> stems
    follow_ups: dict[str, tuple[str, ...]]
    thresholds: dict[str, dict[str, float]]  # backend -> mode (or "word") -> value
    intents: dict[str, str]
    before_cost: frozenset[str]
    yes_no_openers: frozenset[str]
    price_after_how_much: frozenset[str]
    determiners: frozenset[str]
    refers_back_words: frozenset[str]
    refers_back_starts: frozenset[str]
    entries: int = 0  # rules the product pack added over English
    longest: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "longest", max(map(len, self.phrases), default=1))

    def threshold(self, backend: str, key: str) -> float | None:
        """The pack's calibrated value for ``backend`` (``strict``, ``balanced``, ``word``)."""
        value = self.thresholds.get(backend, {}).get(key)
        return float(value) if value is not None else None

    def describe(self) -> dict[str, Any]:
        """For ``/api/cache/stats``: which pack, never where it lies on the server."""
        return {"name": self.name, "entries": self.entries,
                "categories": sorted(self.categories)}


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_PACK_BYTES + 1)
    except OSError as exc:
        raise SettingsError(f"CHAT_CACHE_PACK={str(path)!r}: cannot read it ({exc})") from exc
    if len(raw) > MAX_PACK_BYTES:
        raise SettingsError(f"CHAT_CACHE_PACK={str(path)!r}: larger than"
                            f" {MAX_PACK_BYTES >> 20} MiB; a pack is a vocabulary")
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"CHAT_CACHE_PACK={str(path)!r}: not YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"CHAT_CACHE_PACK={str(path)!r}: expected a mapping of sections")
    unknown = set(data) - _SECTIONS
    if unknown:
        raise SettingsError(f"CHAT_CACHE_PACK={str(path)!r}: unknown section(s)"
                            f" {', '.join(sorted(unknown))}")
    return data


def _words(text: object, where: str) -> tuple[str, ...]:
    found = tuple(term_words(str(text)))
    if not found:
        raise SettingsError(f"{where}: an empty term (two commas, or nothing beside '=>')")
    if len(found) > MAX_TERM_WORDS:
        raise SettingsError(f"{where}: {str(text)!r} has more than {MAX_TERM_WORDS} words")
    return found


def _token(words: Iterable[str]) -> tuple[str, ...]:
    """Words as tokens: markers as written, words as stems."""
    return tuple(w if w.isupper() else stem(w) for w in words)


def _result(text: object, where: str) -> tuple[str, ...]:
    """A phrase's result: tokens as written ("plan_pro", "VENDOR staff"), words as stems."""
    found = str(text).split()
    if not found:
        raise SettingsError(f"{where}: an empty result")
    return _token(w if w.isupper() else w.casefold() for w in found)


class _Builder:
    """Rules in layers — English, then a pack, then a synonyms file — where a layer adds words
    and never changes a lower one's ("fee => cost" makes "fee" a price question, English's
    "cost"); within a layer a term stands on one line."""

    def __init__(self) -> None:
        self.phrases: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.synonyms: dict[str, str] = {}
        self.where: dict[tuple[str, ...], str] = {}  # every term -> where it was defined
        self.layer: set[tuple[str, ...]] = set()  # the terms of the layer being read
        self.entries = 0  # rules added above English

    def next_layer(self) -> None:
        self.layer = set()

    def _reading(self, term: tuple[str, ...]) -> tuple[str, ...] | None:
        if len(term) > 1 or term in self.phrases:
            return self.phrases.get(term)
        found = self.synonyms.get(stem(term[0]))
        return (found,) if found is not None else None

    def _add(self, term: tuple[str, ...], result: tuple[str, ...], where: str,
             exact: bool = False) -> None:
        """``term`` is read as ``result``: as written when ``exact`` (a phrase), else in every
        form of its words (a synonym)."""
        if term in self.layer:
            raise SettingsError(f"{where}: {' '.join(term)!r} is already on {self.where[term]}")
        before = self._reading(term)
        if before is not None:
            if before == result:
                return  # saying again what a lower layer says
            raise SettingsError(f"{where}: {' '.join(term)!r} is read as {' '.join(before)!r}"
                                f" ({self.where[term]}); it stays so")
        if len(term) > 1 or exact:
            self.phrases[term] = result
        else:
            self.synonyms[stem(term[0])] = result[0]
        self.where[term] = where
        self.layer.add(term)
        self.entries += 1

    def add_rules(self, data: Mapping[str, Any], source: str) -> None:
        phrases = data.get("phrases") or {}
        if not isinstance(phrases, dict):
            raise SettingsError(f"{source}: 'phrases' maps words to the tokens they are read as")
        for term, result in phrases.items():
            where = f"{source}, phrase {term!r}"
            self._add(_words(term, where), _result(result, where), where, exact=True)
        self.add_synonyms(str(data.get("synonyms") or ""), source)

    def add_synonyms(self, text: str, source: str) -> None:
        """Solr's format: ``a, b, c`` (each read as the first) or ``a, b => c``."""
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{source}, synonyms line {number}"
            sides = line.split("=>")
            if len(sides) > 2:
                raise SettingsError(f"{where}: more than one '=>'")
            terms = [_words(t, where) for t in sides[0].split(",")]
            if len(sides) == 2:
                targets = [_words(t, where) for t in sides[1].split(",")]
                if len(targets) != 1:
                    raise SettingsError(f"{where}: one term after '=>', the one the others are"
                                        " read as")
                target, written = targets[0], sides[1]
            elif len(terms) < 2:
                raise SettingsError(f"{where}: one term alone says nothing; list its synonyms")
            else:
                target, written = terms[0], sides[0].split(",")[0]
            on_line = list(dict.fromkeys([*terms, target]))
            # A line with a word a lower layer reads is read as that layer reads it.
            known = list(dict.fromkeys(
                r for t in on_line if t not in self.layer and (r := self._reading(t))))
            if len(known) > 1:
                raise SettingsError(f"{where}: joins words read apart below"
                                    f" ({', '.join(' '.join(k) for k in known)})")
            written = written.strip()
            result = known[0] if known else (
                written if written.isupper() else _name_token(written, where),)
            for term in on_line:
                self._add(term, result, where)


def _strings(values: object, where: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str | int) and not isinstance(
            v, bool) for v in values):
        raise SettingsError(f"{where}: expected a list of words (quote on, off, yes and no:"
                            " YAML reads them as true and false)")
    return [str(v) for v in values]


def _name_token(text: str, where: str) -> str:
    """A name or target as one token: a word as its stem, several words joined as written
    ("knowledge base", "plan_pro" -> "knowledge_base", "plan_pro")."""
    found = _words(text, where)
    if len(found) == 1 and "_" not in text:
        return stem(found[0])
    return "_".join(found)


def _stems(values: object, where: str) -> frozenset[str]:
    return frozenset(_name_token(v, where) for v in _strings(values, where))


def _plain(values: object, where: str = "english.yaml") -> frozenset[str]:
    return frozenset(v.casefold() for v in _strings(values, where))


def _build(english: Mapping[str, Any], pack: Mapping[str, Any] | None, source: str | None,
           extra_synonyms: tuple[str, str] | None = None) -> DomainPack:
    builder = _Builder()
    builder.add_rules(english, "english.yaml")
    builder.next_layer()
    builder.entries = 0
    data = pack or {}
    label = f"CHAT_CACHE_PACK={source!r}"
    if pack is not None:
        builder.add_rules(pack, label)
        builder.next_layer()
    if extra_synonyms is not None:
        builder.add_synonyms(extra_synonyms[1], extra_synonyms[0])
    categories: dict[str, frozenset[str]] = {}
    follow_ups: dict[str, tuple[str, ...]] = {}
    raw_categories = data.get("categories") or {}
    if not isinstance(raw_categories, dict):
        raise SettingsError(f"{label}: 'categories' maps a name to its words and follow-ups")
    for category, spec in raw_categories.items():
        spec = spec or {}
        categories[str(category)] = _stems(spec.get("words"), f"{label}, category {category}")
        follow_ups[str(category)] = tuple(str(q) for q in spec.get("follow_ups") or ())
    thresholds = data.get("thresholds") or {}
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, int | float) for x in v.values())
            for v in thresholds.values()):
        raise SettingsError(f"{label}: 'thresholds' maps a backend to {{mode: number}}")
    refers = english["refers_back"]
    return DomainPack(
        name=str(data.get("name") or (Path(source).stem if source else "english")),
        source=source,
        phrases=builder.phrases,
        synonyms=builder.synonyms,
        stopwords=_plain(english["stopwords"]) | _plain(english["fillers"])
        | _plain(data.get("stopwords"), f"{label}, stopwords"),
        particles=_plain(english["particles"]),
        product=_stems(data.get("product"), f"{label}, product"),
        names=_stems(data.get("names"), f"{label}, names"),
        categories=categories,
        follow_ups=follow_ups,
        thresholds={str(k): {str(m): float(x) for m, x in v.items()}
                    for k, v in thresholds.items()},
        intents={str(k): str(v) for k, v in english["intents"].items()},
        before_cost=_plain(english["before_cost"]),
        yes_no_openers=_plain(english["yes_no_openers"]),
        price_after_how_much=_plain(english["price_after_how_much"]),
        determiners=_plain(english["determiners"]),
        refers_back_words=_plain(refers["words"]),
        refers_back_starts=_plain(refers["starts"]),
        entries=builder.entries,
    )


@functools.lru_cache(maxsize=1)
def _english() -> DomainPack:
    return _build(_read(ENGLISH_FILE), None, None)


ENGLISH = _english()


def load_pack(path: str | Path | None, synonyms_file: str | Path | None = None) -> DomainPack:
    """English with the pack at ``path`` over it (English alone for None), and a Solr
    synonyms file over both; raises ``SettingsError`` naming what cannot be read."""
    if path is None and synonyms_file is None:
        return ENGLISH
    pack = _read(Path(path)) if path is not None else None
    extra = None
    if synonyms_file is not None:
        where = f"CHAT_CACHE_SYNONYMS={str(synonyms_file)!r}"
        try:
            with Path(synonyms_file).open("rb") as handle:
                raw = handle.read(MAX_PACK_BYTES + 1)
            if len(raw) > MAX_PACK_BYTES:
                raise SettingsError(f"{where}: larger than {MAX_PACK_BYTES >> 20} MiB")
            extra = (where, raw.decode("utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{where}: cannot read it ({exc})") from exc
    return _build(_read(ENGLISH_FILE), pack, str(path) if path is not None else None, extra)
