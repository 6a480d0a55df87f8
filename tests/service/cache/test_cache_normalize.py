"""The exact tier's normaliser: spellings of one question share a key, other questions do not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.cache.analyzer import Analyzer
from service.cache.normalize import _ASCII_TOKEN, _TOKEN, normalize

READER = Analyzer()

SAME = [
    ("How much does the Pro plan cost?", "how much does pro plan cost"),
    ("Hi! How much does the Pro plan cost??", "how much does the pro plan cost"),
    ("\uff28\uff2f\uff37 much does the Pro plan cost", "how much does pro plan cost"),  # NFKC
    ("What\u2019s your refund policy?", "what is your refund policy"),
    ("whats your refund policy", "What's your refund policy?"),
    ("Can you tell me how to reset my password, please?", "how to reset my password"),
    ("How   do I\tcancel my subscription ?", "how do i cancel my subscription"),
    ("I don't see my API key", "i do not see my api key"),
    ("hey, is there a free trial? thanks", "Is there a free trial"),
    ("Сколько  стоит план PRO?!", "сколько стоит план pro"),
    ("专业版多少钱\uff1f", "专业版多少钱"),
]
DIFFERENT = [
    ("How much does the Pro plan cost?", "How much does the Team plan cost?"),
    ("How do I install the SDK?", "How do I uninstall the SDK?"),
    ("Can I get a refund after 30 days?", "Can I get a refund after 60 days?"),
    ("Is my data used to train the model?", "Is my data not used to train the model?"),
    ("How do I reset my password?", "How do I reset my API key?"),
    ("Сколько стоит план Pro?", "Как удалить мой аккаунт в Pro?"),
    ("专业版多少钱\uff1f", "如何删除我的账户\uff1f"),
    ("专业版多少钱\uff1f", "专业版有哪些功能\uff1f"),
    ("👍", "❤️"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_question_same_key(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_questions_different_keys(a: str, b: str) -> None:
    assert normalize(a) != normalize(b)


@pytest.mark.parametrize("question", [
    "Как удалить мой аккаунт в Pro?", "如何删除我的账户\uff1f", "Pro 版多少钱\uff1f", "👍", "???",
])
def test_too_little_left_is_exact_only(question: str) -> None:
    """What the analyzer cannot read is never judged by the fuzzy tiers."""
    analysis = READER.analyse(question)
    assert not analysis.matchable and READER.variation_key(analysis) is None


def test_an_english_question_stays_matchable() -> None:
    analysis = READER.analyse("How much does the Pro plan cost?")
    assert analysis.matchable and READER.variation_key(analysis) is not None


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(max_codepoint=127), max_size=60)
       | st.lists(st.sampled_from(["c++", "c#", "1.5", "2,000", "_", "a_b", "x1", "9", "pro",
                                   " ", ".", ",", "#", "+", "-"])).map("".join))
def test_ascii_text_is_read_as_the_full_tokeniser_reads_it(text: str) -> None:
    """The ASCII fast path finds the tokens the full pattern (every script) finds."""
    assert _ASCII_TOKEN.findall(text) == _TOKEN.findall(text)
