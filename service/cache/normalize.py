"""The exact tier's normaliser: two spellings of one question get one key.

Only differences that can never change the answer are removed — Unicode form, case, spacing,
punctuation, contractions, articles and politeness filler ("hi", "please", "can you tell me") —
so the exact tier stays exact. Everything smarter lives in the variation and semantic tiers.
Words of every script are kept (a Russian or Chinese question is not reduced to its one Latin
word, which once made different questions share a key); Chinese and Japanese, written without
spaces, become one token per character.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["latin_share", "normalize", "normalize_words", "term_words", "words"]

# Typographic apostrophes (U+2019, U+2018, U+00B4) and backticks all mean "'".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
# Each pattern with the text it needs: a pattern whose text is absent cannot match, and testing
# for the text costs far less than the pattern (a question often holds none of them).
_CONTRACTIONS = (
    ("'", re.compile(r"\bcan't\b"), "can not"),
    ("'", re.compile(r"\bwon't\b"), "will not"),
    ("'", re.compile(r"\bshan't\b"), "shall not"),
    ("'", re.compile(r"n't\b"), " not"),
    ("'", re.compile(r"\b(what|where|how|who|when|why|it|that|there|here|which)'s\b"), r"\1 is"),
    ("'", re.compile(r"'re\b"), " are"),
    ("'", re.compile(r"'ll\b"), " will"),
    ("'", re.compile(r"'ve\b"), " have"),
    ("'", re.compile(r"\bi'm\b"), "i am"),
    ("'", re.compile(r"'d\b"), " would"),
    # The possessive: "the assistant's answers" = "the assistant answers".
    ("'", re.compile(r"'s\b"), ""),
    # The same contractions typed without the apostrophe, as people do on phones.
    ("s", re.compile(r"\b(what|where|how|who|that)s\b"), r"\1 is"),
    ("nt", re.compile(r"\b(do|does|did|is|are|was|were|has|have|could|would|should)nt\b"),
     r"\1 not"),
    ("cant", re.compile(r"\bcant\b"), "can not"),
    ("im", re.compile(r"\bim\b"), "i am"),
)
# Han, kana and bopomofo: scripts written without spaces, so each character is a token.
_CJK = "[\u3040-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"


def _combining_marks() -> str:
    """A character class of every combining mark in planes 0 and 1 (where all of them are)."""
    ranges: list[str] = []
    start = None
    for point in range(0x20001):
        is_mark = point < 0x20000 and unicodedata.category(chr(point)).startswith("M")
        if is_mark and start is None:
            start = point
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(point - 1))}")
            start = None
    return "[" + "".join(ranges) + "]"


# A word keeps its combining marks (Indic vowel signs and viramas, accents NFKC cannot
# compose): "क्या" ("what") and "किया" ("did") differ only in them, and a model reads them.
_MARK = _combining_marks()
# Keep decimals ("1.5") and c++ / c# / .net style names; everything else non-word is a break.
_TOKEN = re.compile(
    rf"\d+(?:[.,]\d+)*|{_CJK}|(?:(?!{_CJK})[^\W_]|{_MARK})+(?:\+\+|#)?")
# The same tokens in ASCII text, which holds no CJK character and no combining mark: the
# character classes above cost the most of reading a question, and most questions are ASCII.
_ASCII_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W_]+(?:\+\+|#)?")
_LATIN_END = 0x250  # Basic Latin up to Latin Extended-B: the lexicon's language
_FILLER_ANYWHERE = frozenset(
    {"please", "pls", "plz", "kindly", "just", "actually", "basically", "the", "a", "an"}
)
_FILLER_EDGES = frozenset(
    {"hi", "hello", "hey", "ok", "okay", "so", "well", "um", "uh", "thanks", "thx", "cheers"}
)
_FILLER_PHRASES = (
    ("can", "you", "tell", "me"),
    ("could", "you", "tell", "me"),
    ("i", "would", "like", "to", "know"),
    ("i", "want", "to", "know"),
    ("i", "was", "wondering"),
    ("do", "you", "know"),
    ("quick", "question"),
    ("thank", "you"),
    ("tell", "me"),
)


def words(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` with contractions expanded; no filler removed."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()
    for needed, pattern, replacement in _CONTRACTIONS:
        if needed in text:
            text = pattern.sub(replacement, text)
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)


def _by_first_word(phrases: tuple[tuple[str, ...], ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """The phrases that start with each word, in their order (the first that matches wins)."""
    found: dict[str, tuple[tuple[str, ...], ...]] = {}
    for phrase in phrases:
        found[phrase[0]] = (*found.get(phrase[0], ()), phrase)
    return found


_PHRASES_BY_START = _by_first_word(_FILLER_PHRASES)
_PHRASE_STARTS = frozenset(_PHRASES_BY_START)


def _drop_phrases(tokens: list[str]) -> list[str]:
    if _PHRASE_STARTS.isdisjoint(tokens):
        return list(tokens)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase in _PHRASES_BY_START.get(tokens[i], ()):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                i += len(phrase)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalize(text: str) -> str:
    """The exact-tier key text: ``"Hi! What's the price of Pro?"`` → ``"what is price of pro"``.

    A question with no word at all ("👍", "???") keys on its whole text, so two of them never
    share the empty key.
    """
    return normalize_words(words(text), text)


def normalize_words(found: list[str], text: str) -> str:
    """``normalize(text)`` from ``words(text)`` already at hand (the analyzer needs both)."""
    tokens = [t for t in _drop_phrases(found) if t not in _FILLER_ANYWHERE]
    while tokens and tokens[0] in _FILLER_EDGES:
        tokens.pop(0)
    while tokens and tokens[-1] in _FILLER_EDGES:
        tokens.pop()
    if not tokens:
        return "".join(unicodedata.normalize("NFKC", text).casefold().split())
    return " ".join(tokens)


def term_words(text: str) -> list[str]:
    """A vocabulary term's words as a normalised question holds them: the fillers ``normalize``
    drops anywhere ("the", "please") are dropped, those it drops only at a question's edges
    ("ok", "hi") are kept, since a term sits inside questions."""
    return [t for t in words(text) if t not in _FILLER_ANYWHERE]


def latin_share(tokens: list[str]) -> float:
    """The share of the tokens' characters in Latin script, the only one the lexicon reads."""
    total = sum(map(len, tokens))
    if not total:
        return 0.0
    if all(map(str.isascii, tokens)):  # most questions: every character is Latin
        return 1.0
    latin = sum(len(t) if t.isascii() else sum(1 for c in t if ord(c) < _LATIN_END)
                for t in tokens)
    return latin / total
