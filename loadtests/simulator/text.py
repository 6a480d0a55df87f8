"""Deterministic answer text and the token split shared by answers and prompt counts.

The same question always gets the same prose (seeded by a hash of the question alone), so cache
tests and load reports can compare answers across runs. One tokenizer cuts answers into stream
chunks and estimates prompt sizes, so usage figures agree with what was sent.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

__all__ = [
    "answer_tokens", "count_prompt_tokens", "message_text", "obeyed_instruction", "revealed",
    "tokenize",
]

# Like a real LLM, the simulator follows instructions found anywhere in the conversation: an
# "ALWAYS REPLY: <text>" line makes every answer start with <text>. Tests use it to show that an
# answer shaped by a client's context never reaches anyone else through the cache.
_INSTRUCTION = re.compile(r"ALWAYS REPLY:\s*([^\n]+)")
# It also reads text that people cannot see, as models whose tokenizer keeps these characters
# do: Unicode tag characters spelling ASCII ("ASCII smuggling", U+E0020-E007E) and bytes hidden
# in variation selectors (U+FE00-FE0F for 0-15, U+E0100-E01EF for 16-255).
_TAGS = re.compile("[\U000E0020-\U000E007E]+")
_SELECTORS = re.compile("[\uFE00-\uFE0F\U000E0100-\U000E01EF]{2,}")

# Words of up to 10 letters are one token; longer ones split into pieces, as a BPE vocabulary would.
_TOKEN = re.compile(r" ?[A-Za-z]{1,10}| ?\d{1,3}|\s+| ?[^\sA-Za-z\d]")

# OpenAI counts a few tokens of framing per chat message; this keeps estimates in that range.
_TOKENS_PER_MESSAGE = 4

_STOPWORDS = frozenset({
    "about", "above", "after", "again", "also", "because", "been", "before", "being", "between",
    "both", "could", "does", "doing", "down", "during", "each", "from", "further", "have",
    "having", "here", "into", "just", "more", "most", "other", "over", "same", "should", "some",
    "such", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "under", "until", "very", "what", "when", "where", "which", "while", "whom", "with",
    "would", "your", "yours", "explain", "tell", "please", "give", "show",
})

_NOUNS = (
    "request", "cache", "model", "latency", "system", "response", "token", "service", "query",
    "worker", "pipeline", "index", "budget", "user", "session", "result", "network", "queue",
    "signal", "pattern", "approach", "layer", "record", "limit", "trade-off", "design",
)
_VERBS = (
    "reduce", "measure", "improve", "handle", "balance", "track", "predict", "shape", "protect",
    "simplify", "schedule", "compare", "isolate", "absorb", "explain", "support",
)
_ADJECTIVES = (
    "small", "steady", "careful", "simple", "reliable", "clear", "typical", "useful", "modest",
    "practical", "common", "robust", "noticeable", "separate", "shared",
)
_ADVERBS = ("quickly", "usually", "often", "reliably", "gradually", "clearly", "in practice")
_OPENERS = ("In short,", "In practice,", "For example,", "As a rule,", "Put simply,", "Overall,")

_TEMPLATES = (
    "{Topic} is easiest to understand as a {adj} {noun} that helps you {verb} the {noun2}.",
    "{opener} {topic} tends to {verb} the {noun} {adv}, which keeps the {noun2} {adj}.",
    "A {adj} way to think about {topic} is to {verb} each {noun} before it reaches the {noun2}.",
    "When the {noun} grows, {topic} will {verb} the {noun2} so that users see a {adj} result.",
    "Most teams {verb} {topic} by watching the {noun} and the {noun2} side by side.",
    "{opener} the {adj} part of {topic} is how it lets you {verb} the {noun} {adv}.",
    "If the {noun} is {adj}, {topic} can {verb} the {noun2} without extra work.",
    "The {noun} matters because {topic} must {verb} every {noun2} it touches.",
    "You can {verb} {topic} in three steps: pick a {noun}, {verb2} the {noun2}, and check the "
    "{adj} outcome.",
    "Keep in mind that {topic} does not {verb} the {noun} on its own; the {noun2} still counts.",
    "{opener} a {adj} {noun} makes {topic} {adv} easier to {verb}.",
    "Compared with a {adj} {noun}, {topic} will {verb} the {noun2} {adv}.",
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into tokens whose concatenation is exactly ``text``."""
    return _TOKEN.findall(text)


def message_text(message: object) -> str:
    """The text of one chat message, whether its content is a string or a list of parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def _selector_byte(char: str) -> int:
    point = ord(char)
    return point - 0xFE00 if point <= 0xFE0F else point - 0xE0100 + 16


def revealed(text: str) -> str:
    """``text`` with what it hides in invisible characters spelt out, as a model reads it."""
    text = _TAGS.sub(lambda m: "".join(chr(ord(c) - 0xE0000) for c in m.group()), text)
    return _SELECTORS.sub(
        lambda m: bytes(map(_selector_byte, m.group())).decode("utf-8", "replace"), text)


def obeyed_instruction(messages: Sequence[object]) -> str | None:
    """The text an "ALWAYS REPLY:" instruction in ``messages`` asks for (the last one wins),
    hidden ones included."""
    found = None
    for message in messages:
        match = _INSTRUCTION.search(revealed(message_text(message)))
        if match:
            found = match.group(1).strip()
    return found


def count_prompt_tokens(messages: Sequence[object]) -> int:
    """Estimate ``prompt_tokens`` the way the answers are counted, plus per-message framing."""
    return 3 + sum(_TOKENS_PER_MESSAGE + len(tokenize(message_text(m))) for m in messages)


def _topics(question: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z-]{3,}", question.lower())
    topics = [w for w in dict.fromkeys(words) if w not in _STOPWORDS]
    return topics or ["this topic"]


def _sentence(rng: random.Random, topics: list[str]) -> str:
    topic = rng.choice(topics)
    nouns = rng.sample(_NOUNS, 2)
    verbs = rng.sample(_VERBS, 2)
    return rng.choice(_TEMPLATES).format(
        Topic=topic[0].upper() + topic[1:], topic=topic, noun=nouns[0], noun2=nouns[1],
        verb=verbs[0], verb2=verbs[1], adj=rng.choice(_ADJECTIVES), adv=rng.choice(_ADVERBS),
        opener=rng.choice(_OPENERS),
    )


def answer_tokens(
    question: str, tokens: int, *, complete: bool = True, instruction: str | None = None,
    seed: int | None = None,
) -> list[str]:
    """The first ``tokens`` tokens of the answer to ``question``.

    With ``complete`` the last token is a full stop, so an answer that ends normally reads as
    finished; a ``max_tokens`` cut (``complete=False``) stops wherever it falls. An
    ``instruction`` (see ``obeyed_instruction``) is obeyed: the answer starts with it. A request's
    ``seed`` picks another sample, as a model's does: same seed, same answer.
    """
    key = question if seed is None else f"{question}\x1f{seed}"
    rng = random.Random(hashlib.sha256(key.encode("utf-8", "replace")).digest())
    topics = _topics(question)
    out: list[str] = tokenize(instruction + " ") if instruction else []
    left_in_paragraph = rng.randint(3, 5)
    while len(out) < tokens:
        sentence = _sentence(rng, topics)
        if out:
            separator = " " if left_in_paragraph else "\n\n"
            left_in_paragraph = left_in_paragraph or rng.randint(3, 5)
            sentence = separator + sentence
        left_in_paragraph -= 1
        out.extend(tokenize(sentence))
    out = out[:tokens]
    if complete and out and not out[-1].endswith("."):
        out[-1] = "."
    return out
