"""Reads a question once into the parts the variation and semantic tiers compare.

Both tiers and the guards need the same facts — intent (what kind of answer is wanted), the
content words as stems in one vocabulary, names, numbers, negation, directions — so an
``Analyzer`` derives them once per question and memoises them: the same popular questions are
analysed over and over. Each cache owns one analyzer, made from English and an optional domain
pack (``pack.py``); nothing about it is process-wide, so two caches may read with two packs.
The memo is bounded in bytes, not entries, and a question longer than any FAQ paraphrase is
only normalised: it costs what its length needs.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from service.cache.normalize import latin_share, normalize_words, words
from service.cache.pack import ENGLISH, DomainPack, stem

__all__ = ["FUZZY_MAX_CHARS", "Analysis", "Analyzer", "footprint"]

# Past this many characters a question is keyed by its exact text only: nobody rephrases a
# 4,000-character message, and analysing it word by word would cost ~70 KB and ~15 ms.
FUZZY_MAX_CHARS = 600

_MIN_LATIN_SHARE = 0.5
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][A-Za-z0-9]+)")


@dataclass(frozen=True)
class Analysis:
    """A question's comparable parts; see ``Analyzer.analyse``."""

    normalized: str  # the exact tier's key text
    intent: str  # cost | reason | where | time | quantity | who | how | what | yesno | none
    content: frozenset[str]  # stems of meaning-bearing words, synonyms resolved, no names
    entities: frozenset[str]  # the pack's names, numbers, capitalised unknown names
    entity_order: tuple[str, ...]  # names as ordered: "Asana with Jira" is not "Jira with Asana"
    markers: frozenset[str]  # NEG, FUTURE, QUANTITY and a pack's own (upper-case tokens)
    bound: tuple[str, ...]  # directions, sorted: "from:asana", "to:trello" ("into" is "to")
    terms: tuple[str, ...]  # every stem in order (content + entities), for the n-gram model
    category: str | None
    refers_back: bool  # needs the conversation to be understood ("and for teams?")
    # Enough is left that the variation and semantic tiers can judge it; else exact tier only.
    matchable: bool
    # (stem, word as written) of content words whose stem differs: embeddings need the word.
    surface: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the question as asked (the memo's own key: no copy)

    def word(self, token: str) -> str:
        """The word a content stem came from ("pric" → "price")."""
        for stemmed, written in self.surface:
            if stemmed == token:
                return written
        return token


# Estimated CPython sizes: a small str object, and one element of a set, frozenset or tuple.
_STR_OVERHEAD = 56
_ELEMENT = _STR_OVERHEAD + 40
_BASE = 1_400  # the dataclass and its empty containers


def footprint(analysis: Analysis) -> int:
    """An upper estimate of the bytes one analysis holds (measured with tracemalloc)."""
    elements = (len(analysis.terms) + len(analysis.content) + len(analysis.entities)
                + len(analysis.entity_order) + len(analysis.markers) + len(analysis.bound)
                + 3 * len(analysis.surface))
    chars = len(analysis.normalized) + 2 * sum(map(len, analysis.terms))
    return _BASE + _ELEMENT * elements + chars


class _Memo:
    """An LRU of analyses bounded by their estimated size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, tuple[Analysis, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

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
            while self.bytes > self.max_bytes and self._items:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped


def _reach(phrases: Mapping[tuple[str, ...], object]) -> dict[str, int]:
    """The longest phrase starting with each word, in words."""
    reach: dict[str, int] = {}
    for phrase in phrases:
        reach[phrase[0]] = max(reach.get(phrase[0], 0), len(phrase))
    return reach


class Analyzer:
    """English, a domain pack over it, and a bounded memo of what it read."""

    def __init__(self, pack: DomainPack = ENGLISH, memo_bytes: int = 16 << 20) -> None:
        self.pack = pack
        self.memo = _Memo(memo_bytes)
        synonyms = pack.synonyms
        self._canonical = {tuple(synonyms.get(stem(w), stem(w)) for w in phrase): result
                           for phrase, result in pack.phrases.items() if len(phrase) > 1}
        # How many words a phrase starting with a word can span: most words start none, and
        # are read without trying any; the others try no longer span than their phrases have.
        self._phrase_reach = _reach(pack.phrases)
        self._canonical_reach = _reach(self._canonical)
        self._skip = pack.stopwords | frozenset(pack.intents)
        # Words nobody capitalises inside a sentence unless writing in title case.
        self._function_words = pack.stopwords | {"the", "an"}

    # --- the public reading ---------------------------------------------------------------------
    def analyse(self, question: str) -> Analysis:
        """Everything the matchers compare about ``question`` (memoised)."""
        found = self.memo.get(question)
        if found is None:
            found = self._analyse(question)
            self.memo.put(question, found)
        return found

    def variation_key(self, analysis: Analysis) -> str | None:
        """``pricing|cost|plan_pro|`` style key shared by recognised rephrasings, or None.

        Word order stops mattering except where it carries meaning (names, directions); the
        intent, names, numbers and markers stay in the key, so "How much is Pro?" and "What is
        in Pro?" never share one. With a pack that has categories, a question in none of them
        gets no key and is left to the semantic tier.
        """
        if not analysis.matchable or not (analysis.content or analysis.entities):
            return None
        if self.pack.categories and analysis.category is None:
            return None
        return "|".join((
            analysis.category or "", analysis.intent, " ".join(sorted(analysis.content)),
            " ".join(analysis.entity_order), " ".join(sorted(analysis.markers)),
            " ".join(analysis.bound)))

    def meaning(self, question: str) -> str:
        """What two rephrasings of a question share: its variation key, else its exact text."""
        analysis = self.analyse(question)
        return self.variation_key(analysis) or analysis.normalized

    def extend_context(self, context: str, question: str) -> str:
        """The conversation context of the next turn after ``question`` was asked in
        ``context``: the user's questions chained by meaning, so "and for teams?" after "How much
        is Pro?" shares a key with the same follow-up after "What does Pro cost?"."""
        text = f"{context}\x1f{self.meaning(question)}"
        return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

    def history_digest(self, history: list[dict]) -> str:
        """``CacheScope.context`` for a request's history; ``""`` when there is none."""
        context = ""
        for message in history:
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                context = self.extend_context(context, message["content"])
        return context

    def follow_ups(self, analysis: Analysis) -> tuple[str, ...]:
        """The pack's usual next questions for the question's category."""
        return self.pack.follow_ups.get(analysis.category or "", ())

    # --- reading a question ---------------------------------------------------------------------
    def _rewrite(self, tokens: list[str]) -> list[tuple[str, str]]:
        """(word as written, token) pairs: phrases and synonyms resolved, words stemmed."""
        pack, synonyms = self.pack, self.pack.synonyms
        stems = [stem(t) for t in tokens]
        mapped = [s in synonyms for s in stems]
        out: list[tuple[str, str]] = []
        i = 0
        while i < len(tokens):
            read = synonyms.get(stems[i], stems[i])
            reach = max(self._phrase_reach.get(tokens[i], 0), self._canonical_reach.get(read, 0))
            if not reach:
                out.append((tokens[i], read))
                i += 1
                continue
            for size in range(min(reach, len(tokens) - i), 0, -1):
                replacement = pack.phrases.get(tuple(tokens[i : i + size]))
                if replacement is None and any(mapped[i : i + size]):
                    replacement = self._canonical.get(
                        tuple(synonyms.get(s, s) for s in stems[i : i + size]))
                if replacement is not None:
                    if (tokens[i : i + size] == ["how", "much"] and i + size < len(tokens)
                            and not self._price_after(tokens[i + size], stems[i + size])):
                        replacement = ("QUANTITY",)  # "how much storage": an amount
                    out.extend((token, token) for token in replacement)
                    i += size
                    break
            else:
                out.append((tokens[i], synonyms.get(stems[i], stems[i])))
                i += 1
        return out

    def _price_after(self, word: str, stemmed: str) -> bool:
        pack = self.pack
        return word in pack.price_after_how_much or stemmed in pack.names or (
            pack.synonyms.get(stemmed, "") in pack.names)

    def _direction(self, tokens: list[tuple[str, str]], i: int) -> str | None:
        """Token ``i``'s role in a direction: "from" ("from Asana"), "to" ("into Trello",
        "Telegram to LinkedIn", "to my Slack"), or None.

        "to" only counts between two meaning-bearing words, so "want to cancel" stays unbound;
        the possessives and determiners before the word are looked past.
        """
        determiners = self.pack.determiners
        j = i - 1
        while j >= 0 and tokens[j][0] in determiners:
            j -= 1
        before = tokens[j][0] if j >= 0 else ""
        if before in ("from", "into"):
            return "to" if before == "into" else "from"
        if before != "to" or j < 1:
            return None
        prior_word, prior = tokens[j - 1]
        return "to" if prior_word not in self._skip and not prior.isupper() else None

    def _capitalised(self, text: str) -> set[str]:
        """Words written with a capital inside a sentence: likely names no list has ("Connect
        it to Make": Make, the automation tool). In title case ("How Do I End My
        Subscription?") capitals say nothing, so there are none."""
        found = {m.group(1).casefold() for m in _CAPITALISED.finditer(text)} - {"i"}
        if len(found & self._function_words) >= 2:
            return set()
        return {w for w in found if stem(w) not in self.pack.product}

    def _intent(self, tokens: list[tuple[str, str]]) -> str:
        intents, before_cost = self.pack.intents, self.pack.before_cost
        for word, token in tokens:
            if token in before_cost or word in before_cost:
                return intents[token if token in intents else word]
            if token == "cost":
                return "cost"
        for word, token in tokens:
            if token in intents:
                return intents[token]
            if word in intents:
                return intents[word]
        if tokens and tokens[0][0] in self.pack.yes_no_openers:
            return "yesno"
        return "none"

    def _category(self, tokens: set[str]) -> str | None:
        """The pack's category with most of the question's tokens (the first on a tie)."""
        scores = {name: len(tokens & words) for name, words in self.pack.categories.items()}
        best = max(scores, key=scores.__getitem__, default=None)
        return best if best is not None and scores[best] else None

    def _kept_particle(self, tokens: list[tuple[str, str]], i: int, kept: bool) -> bool:
        """A particle right after a kept word and before a pause changes the verb ("sign in",
        "opt out of emails"); anywhere else it is a preposition ("included in Pro")."""
        if not kept or tokens[i][0] not in self.pack.particles:
            return False
        return i + 1 == len(tokens) or tokens[i + 1][0] in self._skip

    def _analyse(self, question: str) -> Analysis:
        raw_words = words(question)
        normalized = normalize_words(raw_words, question)
        if len(normalized) > FUZZY_MAX_CHARS:
            return Analysis(normalized, "none", frozenset(), frozenset(), (), frozenset(), (),
                            (), None, refers_back=False, matchable=False, source=question)
        pack = self.pack
        # No words at all ("👍"): the normalised text is the whole text, not words to compare.
        tokens = self._rewrite(normalized.split()) if raw_words else []
        names = self._capitalised(unicodedata.normalize("NFKC", question))
        content: set[str] = set()
        entities: set[str] = set()
        markers: set[str] = set()
        bound: list[str] = []
        terms: list[str] = []
        surface: dict[str, str] = {}
        kept = False
        for i, (word, token) in enumerate(tokens):
            if token.isupper():
                markers.add(token)
                kept = False
                continue
            skipped = word in self._skip or token in self._skip
            named = word in names
            if named and skipped:
                token = word  # "Make" is a name, whatever "make" is
            elif token in pack.product or (skipped and not self._kept_particle(tokens, i, kept)):
                kept = False
                continue
            kept = True
            role = None if word in pack.determiners else self._direction(tokens, i)
            if role is not None:
                bound.append(f"{role}:{token}")
            if (named or token in pack.names
                    or (not token.isalpha() and any(c.isdigit() for c in token))):
                entities.add(token)
                terms.append(token)
                continue
            content.add(token)
            terms.append(token)
            if token != word and token == stem(word):  # an inflection, not a synonym
                surface.setdefault(token, word)
        starts_back = bool(raw_words) and (
            raw_words[0] in pack.refers_back_starts
            or " ".join(raw_words[:2]) in pack.refers_back_starts)
        intent = self._intent(tokens)
        # Too little said to stand alone ("Which providers?") means it leans on the conversation.
        informative = len(content) + len(entities) + (intent == "cost")
        refers_back = (starts_back or any(w in pack.refers_back_words for w in raw_words)
                       or informative < 2)
        return Analysis(
            normalized=normalized,
            intent=intent,
            content=frozenset(content),
            entities=frozenset(entities),
            entity_order=tuple(dict.fromkeys(t for t in terms if t in entities)),
            markers=frozenset(markers),
            bound=tuple(sorted(bound)),
            terms=tuple(terms),
            category=self._category(content | entities | ({"cost"} if intent == "cost"
                                                           else set())),
            refers_back=refers_back,
            matchable=(latin_share(normalized.split()) >= _MIN_LATIN_SHARE
                       and bool(terms or intent != "none")),
            surface=tuple(surface.items()),
            source=question,
        )
