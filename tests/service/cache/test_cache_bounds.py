"""The analysis memo and the semantic index are bounded in bytes, and long questions are cheap."""

from __future__ import annotations

from service.cache.analyzer import FUZZY_MAX_CHARS, Analyzer, footprint
from service.cache.semantic import SemanticIndex

analyse = Analyzer().analyse


def _question(i: int, words: int = 12) -> str:
    return "How do I " + " ".join(f"w{i}x{j}" for j in range(words)) + "?"


def test_memo_stays_under_its_byte_budget_and_keeps_recent_questions() -> None:
    reader = Analyzer(memo_bytes=200_000)
    for i in range(2_000):
        reader.analyse(_question(i))
    assert reader.memo.bytes <= 200_000
    assert 10 < len(reader.memo) < 2_000  # some kept, the oldest gone
    assert reader.memo.get(_question(1_999)) is not None
    assert reader.memo.get(_question(0)) is None


def test_a_question_longer_than_any_paraphrase_is_exact_only() -> None:
    long = "How do I " + "configure " * (FUZZY_MAX_CHARS // 10) + "it?"
    found = analyse(long)
    assert not found.matchable and found.terms == () and found.normalized.startswith("how do i")
    assert footprint(found) < 2 * len(found.normalized) + 2_000


def test_index_drops_oldest_when_over_its_byte_budget() -> None:
    index = SemanticIndex(max_docs=100_000, max_bytes=150_000)
    for i in range(600):
        index.add("scope", f"e{i}", analyse(_question(i)))
    assert index.bytes <= 150_000 and 10 < len(index) < 600
    newest = index.search("scope", analyse(_question(599)))
    assert newest and newest[0].entry_key == "e599"
    assert index.search("scope", analyse(_question(0))) == []
