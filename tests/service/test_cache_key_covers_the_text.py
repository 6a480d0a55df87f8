"""Issue 21, item 1, as a property: whatever the model reads is covered by the cache key.

Two requests that share a cache key are answered with one cached answer, so they must send the
upstream the same text up to what the key may ignore *because the model reads it the same way*:
case, spacing, punctuation and symbols, and the documented filler words. Anything else that the
key leaves out — characters nobody sees, accents or vowel signs the tokenizer split off — is a
way to make the model read something the key does not, and so to plant an answer for everyone.

The request goes through the real validation (``parse_chat_body``, where invisible characters
are removed) and the key through the real normaliser; "what the model reads" is defined here,
independently, by Unicode categories.
"""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.cache.normalize import normalize, words
from service.chat_request import parse_chat_body
from service.errors import ValidationFailed
from service.settings import Settings

SETTINGS = Settings(openai_base_url="http://127.0.0.1:9/v1")


def _sent(text: str) -> str | None:
    """The message text the upstream receives for ``text``, or None when it is refused."""
    try:
        return parse_chat_body({"message": text}, SETTINGS, "public").message
    except ValidationFailed:
        return None


def _model_may_ignore(char: str) -> bool:
    """Characters whose presence does not change what a model reads: spacing, punctuation,
    symbols; and code points this Python's Unicode does not know (no reading to compare)."""
    return char.isspace() or unicodedata.category(char)[0] in "PSZ" or (
        unicodedata.category(char) == "Cn")


def _unkeyed(text: str) -> str:
    """The characters of ``text`` (as the key reads it: NFKC, case-folded) in no key word."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    covered = set("".join(words(text)))
    return "".join(c for c in folded if c not in covered and c != "'")


def _skeleton(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if not _model_may_ignore(c))


# Words without the filler the key drops, so the only difference noise can make is its own.
WORDS = ["how", "much", "is", "pro", "plan", "cost", "free", "pay", "evil", "reply", "always",
         "export", "data", "team", "क्या", "किया", "naïve", "ไม่", "مرحبا", "专业版", "x"]
# Characters that form no word on their own: marks, symbols, punctuation, formats, controls...
NOISE = st.characters(
    exclude_categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No", "Cs"),
).filter(lambda c: not any(ch.isalnum() for ch in unicodedata.normalize("NFKC", c)))


@st.composite
def _question(draw: st.DrawFn) -> tuple[str, str]:
    """A question and a copy of it with noise inserted anywhere and its case changed."""
    chosen = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6))
    plain = " ".join(chosen)
    noisy = []
    for char in plain:
        if draw(st.booleans()):
            noisy.append(draw(NOISE))
        noisy.append(char.upper() if draw(st.booleans()) else char)
    return plain, "".join(noisy) + draw(st.text(NOISE, max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=80))
@example("How much is the Pro plan?\U000E0041\U000E004C\U000E0057")
@example("क्या")
def test_the_key_leaves_out_only_what_the_model_may_ignore(text: str) -> None:
    sent = _sent(text)
    if sent is None:
        return
    left_out = _unkeyed(sent)
    assert all(_model_may_ignore(c) for c in left_out), (
        f"the key leaves out {[f'U+{ord(c):04X}' for c in left_out if not _model_may_ignore(c)]}")


@settings(max_examples=300, deadline=None)
@given(_question())
@example(("how much is pro", "How much is pro\u200b\u2064\U000E0041\U000E0042"))
@example(("किया", "क्या"))
def test_two_requests_that_share_a_key_send_the_same_text(pair: tuple[str, str]) -> None:
    plain, noisy = pair
    sent_plain, sent_noisy = _sent(plain), _sent(noisy)
    if sent_plain is None or sent_noisy is None:
        return
    if normalize(sent_plain) == normalize(sent_noisy):
        assert _skeleton(sent_plain) == _skeleton(sent_noisy)
