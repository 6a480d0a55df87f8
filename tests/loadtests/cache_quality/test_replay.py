"""The reference workload through the real cache: hit rate target and precision floor, with the
reference pack and with English alone."""

from __future__ import annotations

import random

import pytest

from loadtests.cache_quality.caches import CacheSpec
from loadtests.cache_quality.replay import evaluate
from loadtests.processes import ManagedProcess
from loadtests.workload import KINDS, PACK_FILE, PARTS, Workload
from service.cache.pack import ENGLISH, load_pack

HIT_RATE_TARGET = 0.28  # targets.yaml cache_hit_rate_min
PACKS = {"reference": load_pack(PACK_FILE), "none": ENGLISH}


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.load()


@pytest.mark.parametrize("pack", list(PACKS))
@pytest.mark.parametrize("part", PARTS)
def test_hit_rate_and_precision_on_each_part(workload: Workload, part: str, pack: str) -> None:
    spec = CacheSpec("lexical", "strict", PACKS[pack])
    result = evaluate(workload, part, 1500, seed=11, make_cache=spec.make)
    assert result.precision >= 0.99, result.false_examples
    assert result.hit_rate >= HIT_RATE_TARGET
    # the hit rate comes from the matcher, not from identical strings
    assert result.identical_repeats / result.requests < HIT_RATE_TARGET
    assert result.by_tier["variation"] > 0 and result.by_tier["semantic"] > 0
    assert result.hit_rate > result.exact_only_hit_rate
    assert set(result.by_kind) == set(KINDS)


def test_parts_do_not_share_questions(workload: Workload) -> None:
    tuning = {c.question for c in workload.part("tuning")}
    heldout = {c.question for c in workload.part("heldout")}
    assert tuning and heldout and not tuning & heldout
    assert not set(workload.long_tail["tuning"]) & set(workload.long_tail["heldout"])


def test_sessions_are_seeded(workload: Workload) -> None:
    first = [workload.sample_session(random.Random(3)) for _ in range(3)]
    again = [workload.sample_session(random.Random(3)) for _ in range(3)]
    assert first == again


def test_through_redis_matches_memory(workload: Workload, redis_server: ManagedProcess) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    pack = PACKS["reference"]
    via_redis = evaluate(workload, "heldout", 300, seed=5,
                         make_cache=CacheSpec("lexical", "strict", pack, redis_url=url).make)
    in_memory = evaluate(workload, "heldout", 300, seed=5,
                         make_cache=CacheSpec("lexical", "strict", pack).make)
    assert (via_redis.hits, via_redis.false_hits) == (in_memory.hits, in_memory.false_hits)


def test_recall_is_between_exact_only_and_all(workload: Workload) -> None:
    spec = CacheSpec("lexical", "strict", PACKS["reference"])
    result = evaluate(workload, "heldout", 800, seed=3, make_cache=spec.make)
    exact = evaluate(workload, "heldout", 800, seed=3,
                     make_cache=lambda tiers: spec.make(("exact",)))
    assert 0 < exact.recall < result.recall <= 1
    assert result.answerable < result.requests  # first askings cannot be answered
