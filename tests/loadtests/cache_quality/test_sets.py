"""Labelled sets: read, asked of a real cache, and turned into a precision/recall frontier."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.cache_quality.caches import CacheSpec
from loadtests.cache_quality.frontier import best_point, frontier, point_at
from loadtests.cache_quality.sets import REFERENCE_SETS, Asked, ask, load_set
from loadtests.workload import PACK_FILE
from service.cache.pack import load_pack


def test_the_reference_sets_have_their_shape() -> None:
    for path in REFERENCE_SETS.values():
        labelled = load_set(path)
        assert len(labelled.groups) == 25 and labelled.paraphrases == 75
        assert sum(len(g.near_misses) for g in labelled.groups) == 50


@pytest.mark.parametrize(("text", "says"), [
    ("just text", "expected a list of groups"),
    ("- paraphrases: [a]", "group 1 has no 'question'"),
    ("- question: [unclosed", "cannot read it"),
])
def test_a_set_that_cannot_be_read_is_named(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=says):
        load_set(path)


def test_asking_a_set_records_what_each_question_got(tmp_path: Path) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text("- question: How do I delete my workspace?\n"
                    "  paraphrases: ['how do i delete my workspace please', 'zzz qqq']\n"
                    "  near_misses: ['How do I rename my workspace?']\n"
                    "- question: Where are my invoices?\n"
                    "  paraphrases: ['where are my invoices']\n")
    cache = CacheSpec("lexical", "strict", load_pack(PACK_FILE)).make()
    asked = ask(cache, load_set(path))
    cache.close()
    assert [(a.expected, a.got, a.tier) for a in asked] == [
        (0, 0, "exact"), (0, None, None), (None, None, None), (1, 1, "exact")]
    assert [a.right for a in asked] == [True, False, False, True]


def _asked(*rows: tuple[int | None, int | None, float]) -> list[Asked]:
    return [Asked("q", expected, got, "semantic" if got is not None else None, confidence)
            for expected, got, confidence in rows]


def test_the_frontier_follows_from_one_asking() -> None:
    asked = _asked((0, 0, 1.0), (1, 1, 0.9), (None, 2, 0.8), (2, 2, 0.7), (3, None, 0.0))
    points = frontier(asked, paraphrases=4)
    assert [(p.threshold, p.recall, round(p.precision, 3)) for p in points] == [
        (1.0, 0.25, 1.0), (0.9, 0.5, 1.0), (0.8, 0.5, 0.667), (0.7, 0.75, 0.75)]
    assert point_at(asked, 4, 0.85).hits == 2
    assert best_point(points, 0.99) == points[1]  # most recall at 0.99, then the strictest
    assert best_point(points, 0.7) == points[3]
    assert best_point(frontier(_asked((None, 1, 0.9)), 1), 0.5) is None
