"""The reference workload through the real cache: hit rate target and precision floor."""

from __future__ import annotations

import pytest

from loadtests.__main__ import main as loadtests_main
from loadtests.cache_eval import (
    PRECISION_FLOOR,
    SYNONYM_SETS,
    evaluate,
    evaluate_synonyms,
    memory_cache,
    memory_cache_factory,
    redis_cache_factory,
)
from loadtests.processes import ManagedProcess
from loadtests.workload import KINDS, PACK_FILE, PARTS, Workload

HIT_RATE_TARGET = 0.28  # targets.yaml cache_hit_rate_min


@pytest.fixture(scope="module")
def workload() -> Workload:
    return Workload.load()


@pytest.mark.parametrize("part", PARTS)
def test_hit_rate_and_precision_on_each_part(workload: Workload, part: str) -> None:
    result = evaluate(workload, part, 1500, seed=11, make_cache=memory_cache)
    assert result.precision >= PRECISION_FLOOR, result.false_examples
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
    import random
    first = [workload.sample_session(random.Random(3)) for _ in range(3)]
    again = [workload.sample_session(random.Random(3)) for _ in range(3)]
    assert first == again


def test_through_redis_matches_memory(workload: Workload, redis_server: ManagedProcess) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    via_redis = evaluate(workload, "heldout", 300, seed=5, make_cache=redis_cache_factory(url))
    in_memory = evaluate(workload, "heldout", 300, seed=5, make_cache=memory_cache)
    assert (via_redis.hits, via_redis.false_hits) == (in_memory.hits, in_memory.false_hits)


def test_command_prints_both_parts(capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main(["cache-eval", "--requests", "400", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "[tuning]" in out and "[heldout]" in out and "precision" in out
    assert loadtests_main(["no-such-command"]) == 2


def test_recall_is_between_exact_only_and_all(workload: Workload) -> None:
    result = evaluate(workload, "heldout", 800, seed=3, make_cache=memory_cache)
    exact = evaluate(workload, "heldout", 800, seed=3,
                     make_cache=lambda tiers: memory_cache(("exact",)))
    assert 0 < exact.recall < result.recall <= 1
    assert result.answerable < result.requests  # first askings cannot be answered


@pytest.mark.parametrize("name", SYNONYM_SETS)
def test_synonym_sets_local_finds_at_least_what_lexical_finds(local_embedder, name: str) -> None:
    path = SYNONYM_SETS[name]
    lexical = evaluate_synonyms(memory_cache, path=path)
    local = evaluate_synonyms(memory_cache_factory(local_embedder), path=path)
    exact = evaluate_synonyms(memory_cache, ("exact",), path)
    assert lexical.paraphrases == local.paraphrases == 75
    # Some writers also added only fillers ("quick question: …"), which the exact key drops.
    # (that local finds words the lexical model cannot is test_cache_embeddings' own test)
    assert local.right_hits >= lexical.right_hits >= exact.right_hits
    assert lexical.right_hits > 0
    assert local.precision >= PRECISION_FLOOR and lexical.precision >= PRECISION_FLOOR


def test_command_prints_the_backend_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main(["cache-eval", "--requests", "300", "--embeddings", "lexical,bogus",
                           "--parts", "heldout"]) == 0
    out = capsys.readouterr().out
    assert "== bogus: skipped" in out
    assert "| lexical |" in out and "| exact only |" in out
    assert "[synonyms]" in out and "[unseen]" in out and "[unseen-2]" in out
    assert "| synonyms | unseen | unseen-2 |" in out


def test_command_measures_a_synonyms_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("workspace, org\n")
    assert loadtests_main(["cache-eval", "--requests", "200", "--embeddings", "lexical",
                           "--parts", "heldout", "--synonyms-file", str(path)]) == 0
    assert "== pack english: 2 rules over English" in capsys.readouterr().out
    path.write_text("workspace\n")
    assert loadtests_main(["cache-eval", "--synonyms-file", str(path)]) == 2
    assert "line 1: one term alone" in capsys.readouterr().err


def test_command_measures_a_teams_own_set(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "our-questions.yaml"
    path.write_text(
        "- question: How do I delete my workspace?\n"
        "  paraphrases: ['How can I remove my workspace?']\n"
        "  near_misses: ['How do I delete my account?']\n")
    assert loadtests_main(["cache-eval", "--requests", "200", "--embeddings", "lexical",
                           "--parts", "heldout", "--synonym-set", str(path),
                           "--pack", str(PACK_FILE)]) == 0
    out = capsys.readouterr().out
    assert "[our-questions] 1 paraphrases: recall 100.0%, precision 100.00%" in out
    assert "| unseen-2 | our-questions |" in out
    assert loadtests_main(["cache-eval", "--synonym-set", str(tmp_path / "none.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
