"""Operating points: ``strict`` keeps every guard, ``balanced`` asks the pair judge after the hard
ones; and which threshold each one takes."""

from __future__ import annotations

import time

import pytest

from loadtests.workload import Workload
from service.cache import CachedAnswer, CacheScope, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.embeddings.local import LocalEmbedder
from service.cache.judge import load_judges
from service.cache.matching import operating_point
from service.cache.pack import ENGLISH
from service.settings import Settings, SettingsError
from tests.service.cache.conftest import REFERENCE_PACK, reference_analyzer

SCOPE = CacheScope("public", "v1", "auto", "")
# A cache as the reference product fills it: every question of the tuning part, and a few more.
CACHED = [c.question for c in Workload.load().part("tuning")] + [
    "Can I get a refund within 30 days?", "Can I move my Asana data into Trello?"]


def _cache(embedder: LocalEmbedder, match: str) -> ChatCache:
    cache = ChatCache(MemoryBackend(3600, 100), max_entries=100, embedder=embedder,
                      analyzer=reference_analyzer(), match=match)
    for question in CACHED:
        cache.store(question, SCOPE, CachedAnswer(question, question, "m", "fast", 1, 1,
                                                  time.time()))
    return cache


def test_balanced_answers_a_rephrasing_strict_refuses(local_embedder: LocalEmbedder) -> None:
    asked = "do you give a discount for yearly billing"  # "yearly" / "annual": a swapped word
    strict, balanced = _cache(local_embedder, "strict"), _cache(local_embedder, "balanced")
    assert strict.lookup(asked, SCOPE) is None
    hit = balanced.lookup(asked, SCOPE)
    assert hit is not None and hit.tier == "semantic"
    assert hit.entry.answer == "Do you offer a discount for annual billing?"
    assert hit.confidence >= balanced.index.threshold > hit.similarity
    assert balanced.describe()["match"] == "balanced"


@pytest.mark.parametrize("near_miss", [
    "How much does the Team plan cost?",  # a name
    "Can I get a refund within 60 days?",  # a number
    "Is my data not used to train the model?",  # negation
    "Can I move my Trello data into Asana?",  # direction
    "Where do I reset my password?",  # another kind of answer
])
def test_balanced_keeps_the_hard_guards(local_embedder: LocalEmbedder, near_miss: str) -> None:
    assert _cache(local_embedder, "balanced").lookup(near_miss, SCOPE) is None


def test_each_operating_point_takes_its_threshold() -> None:
    judge = load_judges()["local"]
    assert operating_point("balanced", "local", ENGLISH, 0.6).threshold == judge.threshold
    assert operating_point("balanced", "local", ENGLISH, 0.6).floor == judge.floor
    assert operating_point("balanced", "local", ENGLISH, 0.6, override=0.9).threshold == 0.9
    assert operating_point("strict", "lexical", ENGLISH, 0.45).threshold == 0.45
    assert operating_point("strict", "local", REFERENCE_PACK, 0.5).threshold == 0.60  # pack
    assert operating_point("strict", "local", REFERENCE_PACK, 0.5).word_threshold == 0.62
    no_judge = operating_point("balanced", "openai", ENGLISH, 0.8)  # none trained: the score
    assert no_judge.judge is None and no_judge.threshold == 0.8
    with pytest.raises(SettingsError, match="CHAT_CACHE_MATCH='loose'"):
        operating_point("loose", "local", ENGLISH, 0.6)


def test_the_setting_is_checked_at_start() -> None:
    with pytest.raises(SettingsError, match="CHAT_CACHE_MATCH='loose': choose one of"):
        Settings.from_env({"CHAT_CACHE_MATCH": "loose"})
    assert Settings.from_env({}).cache_match == "strict"
