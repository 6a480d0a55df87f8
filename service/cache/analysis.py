"""Reads a question once into the parts the variation and semantic tiers compare.

Both tiers and the guards need the same facts — intent (what kind of answer is wanted), the
content words in one vocabulary, names, numbers, negation — so they are derived here, once per
question, and memoised: the same popular questions are analysed over and over. The memo is
bounded in bytes, not entries (a 4,000-character question weighs a hundred short ones), and a
question longer than any FAQ paraphrase is only normalised: it costs what its length needs.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from service.cache import lexicon
from service.cache.normalize import latin_share, normalize, words
from service.cache.vocabulary import BUILT_IN, Vocabulary

__all__ = ["MEMO", "Analysis", "analyse", "stem", "use_vocabulary", "vocabulary"]

# Past this many characters a question is keyed by its exact text only: nobody rephrases a
# 4,000-character message, and analysing it word by word would cost ~70 KB and ~15 ms.
FUZZY_MAX_CHARS = 600

_MIN_LATIN_SHARE = 0.5
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][A-Za-z0-9]+)")
# Words no one capitalises inside a sentence unless writing in title case.
_FUNCTION_WORDS = lexicon.STOPWORDS | {"the", "an"}


@dataclass(frozen=True)
class Analysis:
    """A question's comparable parts; see ``analyse``."""

    normalized: str  # the exact tier's key text
    intent: str  # cost | reason | where | time | quantity | who | how | what | yesno | none
    content: frozenset[str]  # stems of meaning-bearing words, synonyms resolved, no names
    entities: frozenset[str]  # plan/product names, numbers, capitalised unknown names
    entity_order: tuple[str, ...]  # names as ordered: "Asana with Jira" is not "Jira with Asana"
    markers: frozenset[str]  # NEG, FUTURE, QUANTITY
    bound: tuple[str, ...]  # directions, sorted: "from:asana", "to:trello" ("into" is "to")
    terms: tuple[str, ...]  # every stem in order (content + entities), for the n-gram model
    category: str | None
    refers_back: bool  # needs the conversation to be understood ("and for teams?")
    # Enough is left that the variation and semantic tiers can judge it; else exact tier only.
    matchable: bool
    # (stem, word as written) of content words whose stem differs: embeddings need the word.
    surface: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the question as asked (the memo's own key: no copy)

    def word(self, stem: str) -> str:
        """The word a content stem came from ("pric" → "price")."""
        for stemmed, written in self.surface:
            if stemmed == stem:
                return written
        return stem


def stem(word: str) -> str:
    """A light suffix stripper: enough to make "stored", "storing" and "store" agree."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return word[: -len(suffix)]
    return word


_vocabulary = BUILT_IN


def vocabulary() -> Vocabulary:
    """The words questions are read with: the lexicon, and a synonyms file if one is in use."""
    return _vocabulary


def use_vocabulary(chosen: Vocabulary) -> None:
    """Read questions with ``chosen`` from now on; analyses made with the previous words are
    forgotten. One vocabulary per process: ``ChatCache.from_settings`` sets it at start, before
    anything is analysed (an analysis under way while it changes may be memoised with the old)."""
    global _vocabulary
    _vocabulary = chosen
    MEMO.clear()


def _rewrite(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    vocab = _vocabulary  # one vocabulary for the whole question
    phrases, synonyms, file_words = vocab.phrases, vocab.synonyms, vocab.file_words
    while i < len(tokens):
        for size in range(min(vocab.longest, len(tokens) - i), 1, -1):
            phrase = tuple(tokens[i : i + size])
            replacement = phrases.get(phrase)
            if replacement is None and file_words:
                phrase = tuple(file_words.get(t, t) for t in phrase)
                replacement = phrases.get(phrase)
            if replacement is not None:
                if (phrase == ("how", "much") and i + size < len(tokens)
                        and tokens[i + size] not in lexicon.PRICE_AFTER_HOW_MUCH):
                    replacement = ("QUANTITY",)  # "how much storage": an amount, not a price
                out.extend(replacement)
                i += size
                break
        else:
            token = tokens[i]
            if token in lexicon.VERB_READINGS and out and out[-1] in lexicon.SUBJECTS:
                token = lexicon.VERB_READINGS[token]
            out.append(synonyms.get(token, token))
            i += 1
    return out


def _direction(tokens: list[str], i: int) -> str | None:
    """Word ``i``'s role in a direction: "from" ("from Asana"), "to" ("into Trello", "Telegram to
    LinkedIn", "to my Slack"), or None.

    "to" only counts between two meaning-bearing words, so "want to cancel" stays unbound; the
    possessives and determiners before the word are looked past.
    """
    j = i - 1
    while j >= 0 and tokens[j] in lexicon.DETERMINERS:
        j -= 1
    before = tokens[j] if j >= 0 else ""
    if before in ("from", "into"):
        return "to" if before == "into" else "from"
    if before != "to" or j < 1:
        return None
    prior = tokens[j - 1]
    return "to" if prior not in lexicon.STOPWORDS and prior not in lexicon.MARKERS else None


# Question words that decide the intent when they come before a price word: "When do you
# charge…?" asks a time, "Why did the price go up?" a reason.
_BEFORE_COST = frozenset({"why", "where", "when", "who", "speed"})


def _intent(tokens: list[str]) -> str:
    for token in tokens:
        if token in _BEFORE_COST:
            return lexicon.INTENT_WORDS[token]
        if token == "cost":
            return "cost"
    for token in tokens:
        if token in lexicon.INTENT_WORDS:
            return lexicon.INTENT_WORDS[token]
    if tokens and tokens[0] in lexicon.YES_NO_OPENERS:
        return "yesno"
    return "none"


def _capitalised(text: str) -> set[str]:
    """Words written with a capital inside a sentence: likely names we have no list for, even
    a word the lexicon would drop ("Connect Nimbus to Make": Make, the automation tool). In
    title case ("How Do I End My Subscription?") capitals say nothing, so there are none."""
    found = {m.group(1).casefold() for m in _CAPITALISED.finditer(text)} - {"i"}
    return set() if len(found & _FUNCTION_WORDS) >= 2 else found - lexicon.PRODUCT_WORDS


def _category_vocabulary(words: frozenset[str]) -> tuple[set[str], set[str], list[int]]:
    """A category's words as the stems questions are compared by ("integrate" is "integrat"),
    and those of five letters or more also as prefixes ("integrat" in "integrations"), kept
    with their lengths so a stem is checked against each prefix length once."""
    vocabulary = set(words) | {stem(w) for w in words}
    prefixes = {v for v in vocabulary if len(v) >= 5}
    return vocabulary, prefixes, sorted({len(v) for v in prefixes})


_PREFIXES = {category: _category_vocabulary(words)
             for category, words in lexicon.CATEGORY_WORDS.items()}


def _category(stems: set[str]) -> str | None:
    best, best_score = None, 0
    for category, (vocabulary, prefixes, lengths) in _PREFIXES.items():
        score = sum(1 for s in stems if s in vocabulary
                    or any(s[:n] in prefixes for n in lengths if n <= len(s)))
        if score > best_score:
            best, best_score = category, score
    return best


class _Memo:
    """An LRU of analyses bounded by their estimated size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, tuple[Analysis, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            self._trim()

    def get(self, question: str) -> Analysis | None:
        with self._lock:
            found = self._items.get(question)
            if found is None:
                return None
            self._items.move_to_end(question)
            return found[0]

    def put(self, question: str, analysis: Analysis) -> None:
        size = footprint(analysis) + _STR_OVERHEAD + len(question)
        with self._lock:
            if question in self._items or size > self.max_bytes:
                return
            self._items[question] = (analysis, size)
            self.bytes += size
            self._trim()

    def _trim(self) -> None:
        while self.bytes > self.max_bytes and self._items:
            _, (_, size) = self._items.popitem(last=False)
            self.bytes -= size


# Estimated CPython sizes: a small str object, and one element of a set, frozenset or tuple.
_STR_OVERHEAD = 56
_ELEMENT = _STR_OVERHEAD + 40
_BASE = 1_400  # the dataclass and its empty containers


def footprint(analysis: Analysis) -> int:
    """An upper estimate of the bytes one analysis holds (measured with tracemalloc)."""
    elements = (len(analysis.terms) + len(analysis.content) + len(analysis.entities)
                + len(analysis.entity_order) + len(analysis.markers) + len(analysis.bound)
                + 3 * len(analysis.surface))
    chars = len(analysis.normalized) + 2 * sum(len(t) for t in analysis.terms)
    return _BASE + _ELEMENT * elements + chars


MEMO = _Memo(16 << 20)  # ChatCache.from_settings sets CHAT_CACHE_ANALYSIS_BYTES


def analyse(question: str) -> Analysis:
    """Everything the matchers compare about ``question`` (memoised, see ``MEMO``)."""
    found = MEMO.get(question)
    if found is None:
        found = _analyse(question)
        MEMO.put(question, found)
    return found


def _analyse(question: str) -> Analysis:
    normalized = normalize(question)
    if len(normalized) > FUZZY_MAX_CHARS:
        return Analysis(normalized, "none", frozenset(), frozenset(), (), frozenset(), (), (),
                        None, refers_back=False, matchable=False, source=question)
    raw_words = words(question)
    # No words at all ("👍"): the normalised text is the whole text, not words to compare.
    tokens = _rewrite(normalized.split()) if raw_words else []
    names = _capitalised(unicodedata.normalize("NFKC", question))
    content: set[str] = set()
    entities: set[str] = set()
    markers: set[str] = set()
    bound: list[str] = []
    terms: list[str] = []
    surface: dict[str, str] = {}
    for i, token in enumerate(tokens):
        if token in lexicon.MARKERS:
            markers.add(token)
            continue
        if (token in lexicon.STOPWORDS and token not in names) or token in lexicon.PRODUCT_WORDS:
            continue
        role = None if token in lexicon.DETERMINERS else _direction(tokens, i)
        if role is not None:
            bound.append(f"{role}:{token}")
        if token in lexicon.ENTITY_WORDS or token in names or any(c.isdigit() for c in token):
            entities.add(token)
            terms.append(token)
            continue
        stemmed = stem(token)
        content.add(stemmed)
        terms.append(stemmed)
        if stemmed != token:
            surface.setdefault(stemmed, token)
    starts_back = bool(raw_words) and (
        raw_words[0] in lexicon.REFERS_BACK_START
        or " ".join(raw_words[:2]) in lexicon.REFERS_BACK_START
    )
    intent = _intent(tokens)
    # Too little said to stand alone ("Which providers?") means it leans on the conversation.
    informative = len(content) + len(entities) + (intent == "cost")
    refers_back = (
        starts_back or any(w in lexicon.REFERS_BACK_WORDS for w in raw_words) or informative < 2
    )
    return Analysis(
        normalized=normalized,
        intent=intent,
        content=frozenset(content),
        entities=frozenset(entities),
        entity_order=tuple(dict.fromkeys(t for t in terms if t in entities)),
        markers=frozenset(markers),
        bound=tuple(sorted(bound)),
        terms=tuple(terms),
        category=_category(content | entities | ({"cost"} if intent == "cost" else set())),
        refers_back=refers_back,
        matchable=_matchable(normalized, terms, intent),
        surface=tuple(surface.items()),
        source=question,
    )


def _matchable(normalized: str, terms: list[str], intent: str) -> bool:
    """Whether the lexicon read most of the question and found something to compare.

    Words in a script it cannot read ("Как удалить мой аккаунт в Pro?" is only "pro" to it)
    would leave a fuzzy match judging a fraction of the question, so such a question, like one
    with nothing left once normalised, is matched by its exact text only.
    """
    return latin_share(normalized.split()) >= _MIN_LATIN_SHARE and bool(terms or intent != "none")
