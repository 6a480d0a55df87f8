"""The semantic tier over embeddings: ``local`` (model2vec) and ``openai`` (the simulator's
``/v1/embeddings`` through the real SDK), the guards on both, and what an outage costs."""

from __future__ import annotations

import time

import httpx
import pytest

from loadtests.processes import ManagedProcess, free_port
from service.cache import TIERS, CachedAnswer, CacheScope, ChatCache
from service.cache.backend import MemoryBackend
from service.cache.embeddings import Embedder
from service.cache.embeddings.local import LocalEmbedder
from service.cache.embeddings.remote import OpenAIEmbedder
from tests.service.cache.conftest import reference_analyzer

SCOPE = CacheScope("public", "v1", "auto", "")
CACHED = [
    "How much does the Pro plan cost?",
    "How do I cancel my subscription?",
    "Is my data used to train the model?",
    "Do you have a mobile app?",
    "Do you offer a discount for nonprofits?",
]


def _cache(embedder: Embedder | None, tiers: tuple[str, ...] = TIERS) -> ChatCache:
    cache = ChatCache(MemoryBackend(3600, 1000), max_entries=1000, embedder=embedder,
                      tiers=tiers, analyzer=reference_analyzer())
    for question in CACHED:
        cache.store(question, SCOPE, CachedAnswer(question, f"answer to {question}", "m", "fast",
                                                  1, 1, time.time()))
    return cache


def _answer(cache: ChatCache, question: str) -> tuple[str | None, str | None]:
    hit = cache.lookup(question, SCOPE)
    return (hit.entry.question, hit.tier) if hit else (None, None)


# "charities" / "nonprofits" is in no lexicon: only the model's word vectors put them close.
SYNONYMS = {"Do charities get a discount?": CACHED[4]}


def test_local_finds_rephrasings_the_lexical_model_cannot(local_embedder: LocalEmbedder) -> None:
    local, lexical = _cache(local_embedder), _cache(None)
    for question, cached in SYNONYMS.items():
        assert _answer(local, question) == (cached, "semantic")
        assert _answer(lexical, question) == (None, None)
    assert local.describe()["embeddings"] == "local"
    assert lexical.describe()["embeddings"] == "lexical"


@pytest.mark.parametrize("near_miss", [
    "How much does the Team plan cost?",  # another name
    "Is my data not used to train the model?",  # negation
    "How do I pause my subscription?",  # another action
    "Do you have a desktop app?",  # a swapped word the model puts close
])
def test_local_keeps_the_guards(local_embedder: LocalEmbedder, near_miss: str) -> None:
    assert _answer(_cache(local_embedder), near_miss) == (None, None)


EXPORT = "Can I export my data?"


@pytest.mark.parametrize(("question", "answered_by"), [
    ("How do I download all my data?", EXPORT),  # another form, a synonym
    ("How do I delete all my data?", None),  # another action
    ("How do I export my data to CSV?", None),  # a name on one side only
    ("Why can I not export my data?", None),  # a reason, and a negation
    ("How long does an export of my data take?", None),  # a time
])
def test_local_answers_a_question_asked_in_another_form(
        local_embedder: LocalEmbedder, question: str, answered_by: str | None) -> None:
    local, lexical = _cache(local_embedder), _cache(None)
    for cache in (local, lexical):
        cache.store(EXPORT, SCOPE, CachedAnswer(EXPORT, "export", "m", "fast", 1, 1, time.time()))
    assert _answer(local, question)[0] == answered_by
    assert _answer(lexical, question) == (None, None)  # the lexical model keeps its own rule


def test_local_index_is_quantised(local_embedder: LocalEmbedder) -> None:
    cache = ChatCache(MemoryBackend(3600, 10_000), max_entries=10_000, embedder=local_embedder,
                      analyzer=reference_analyzer())
    for i in range(5_000):
        question = f"Can I sync Tool{i} data into Tool{i + 1}?"
        cache.store(question, SCOPE, CachedAnswer(question, "a", "m", "fast", 1, 1, time.time()))
    cache.lookup("warm the index", SCOPE)
    info = cache.describe()
    assert info["semantic_index"] == 5_000
    # 256 dims as int8 + 1-bit codes + bookkeeping: about 1 KB, not 256 float32s and objects
    assert info["semantic_index_bytes"] / 5_000 < 1_200


@pytest.fixture
def sim_embedder(simulator: ManagedProcess) -> OpenAIEmbedder:
    # The simulator's vectors are hashed words, not a model: its own threshold, not OpenAI's.
    return OpenAIEmbedder(f"{simulator.url}/v1", None, "text-embedding-3-small", 5.0,
                          threshold=0.7)


@pytest.mark.integration
def test_openai_backend_batches_and_matches_through_the_sdk(
    simulator: ManagedProcess, sim_embedder: OpenAIEmbedder
) -> None:
    before = httpx.get(f"{simulator.url}/sim/embeddings").json()
    cache = _cache(sim_embedder, ("exact", "semantic"))  # no variation tier in the way
    hit = cache.lookup("how much does the pro plan cost", SCOPE)  # exact: no embedding needed
    assert hit is not None and hit.tier == "exact"
    semantic = cache.lookup("How do I cancel my subscriptoin?", SCOPE)
    assert semantic is not None and semantic.tier == "semantic"
    assert semantic.entry.question == CACHED[1]
    assert _answer(cache, "How much does the Team plan cost?") == (None, None)  # guards hold
    after = httpx.get(f"{simulator.url}/sim/embeddings").json()
    # the four stored questions went in one request, then one per semantic lookup (or guard word)
    assert after["inputs"] - before["inputs"] >= len(CACHED)
    assert after["requests"] - before["requests"] <= 1 + 2 + 2


def test_an_embeddings_outage_costs_the_semantic_tier_only() -> None:
    dead = OpenAIEmbedder(f"http://127.0.0.1:{free_port()}/v1", None, "m", 0.5)
    cache = _cache(dead)
    assert _answer(cache, "How much does the Pro plan cost??") == (CACHED[0], "exact")
    assert _answer(cache, "How expensive is the Pro plan?") == (CACHED[0], "variation")
    for _ in range(5):
        assert _answer(cache, "How do I cancel my subscriptoin?") == (None, None)
    assert cache.index.errors == 1  # then the breaker was open: no attempt per lookup


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["openai", "local"])
def test_the_service_answers_a_rephrasing_from_the_configured_backend(
    start_chat_service, simulator: ManagedProcess, request: pytest.FixtureRequest, backend: str
) -> None:
    env = {"CHAT_CACHE_EMBEDDINGS": backend}
    if backend == "local":
        env["CHAT_EMBEDDINGS_PATH"] = str(request.getfixturevalue("local_model_dir"))
        cached, rephrased = CACHED[4], "Do charities get a discount?"
    else:  # the simulator's hashed vectors: a typo, at the simulator's own threshold
        env["CHAT_CACHE_SEMANTIC_THRESHOLD"] = "0.7"
        cached, rephrased = CACHED[1], "How do I cancel my subscriptoin?"
    service = start_chat_service(simulator.url, **env)
    answer = httpx.post(f"{service.url}/api/chat", json={"message": cached}, timeout=30)
    assert answer.status_code == 200
    quick = httpx.post(f"{service.url}/api/chat/quick", json={"message": rephrased}).json()
    assert quick["hit"] is True and quick["tier"] == "semantic"
    assert quick["answer"] == answer.json()["answer"]
    stats = httpx.get(f"{service.url}/api/cache/stats").json()
    assert stats["embeddings"] == backend
