"""Domain packs (``CHAT_CACHE_PACK``): a product's words over English, used by every tier,
refused with the place that cannot be read."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from loadtests.workload import PACK_FILE
from service.cache import Analyzer, CachedAnswer, CacheScope, ChatCache
from service.cache.pack import ENGLISH, MAX_PACK_BYTES, load_pack
from service.settings import Settings, SettingsError

SCOPE = CacheScope("public", "v1", "auto", "")
PACK = """\
name: acme
product: [acme]
names: [widgetron]
phrases:
  help center: knowledge_base
synonyms: |
  # Acme's own words
  workspace, organisation, org
  kb => knowledge base
categories:
  workspaces:
    words: [workspace]
    follow_ups: ["Can I rename a workspace?"]
thresholds:
  lexical: {strict: 0.5}
"""


def _write(tmp_path: Path, text: str, name: str = "pack.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_pack_adds_its_words_to_english(tmp_path: Path) -> None:
    pack = load_pack(_write(tmp_path, PACK))
    reader = Analyzer(pack)
    assert pack.name == "acme" and pack.threshold("lexical", "strict") == 0.5
    asked, cached = reader.analyse("How do I delete my org?"), reader.analyse(
        "How do I delete my workspace?")
    assert reader.variation_key(asked) == reader.variation_key(cached) is not None
    assert reader.analyse("Where is the kb?").content == {"knowledge_base"}
    assert reader.analyse("Where is the help center?").content == {"knowledge_base"}
    assert reader.analyse("Does Acme have a widgetron?").entities == {"widgetron"}
    assert reader.analyse("Does Acme work offline?").content == {"offlin"}  # its own name: none
    assert reader.follow_ups(asked) == ("Can I rename a workspace?",)
    english = Analyzer()  # the same words with no pack are just words
    assert english.analyse("How do I delete my org?").content == {"delet", "org"}


def test_synonyms_cover_every_form_and_phrases_match_as_written(tmp_path: Path) -> None:
    reader = Analyzer(load_pack(_write(tmp_path, "synonyms: |\n  connect => integrate\n")))
    assert "integr" in reader.analyse("Is connecting to Jira possible?").content
    exact = Analyzer(load_pack(_write(tmp_path, "phrases: {supported: offer}\n", "p2.yaml")))
    assert exact.analyse("Is SSO supported?").content == set()
    assert exact.analyse("What support do you offer?").content == {"support"}


@pytest.mark.parametrize(("line", "says"), [
    ("workspace", "one term alone"),
    ("workspace, , org", "an empty term"),
    ("kb =>", "an empty term"),
    ("kb => knowledge base, docs", "one term after '=>'"),
    ("a => b => c", "more than one '=>'"),
])
def test_a_line_that_cannot_be_read_is_named(tmp_path: Path, line: str, says: str) -> None:
    path = _write(tmp_path, f"synonyms: |\n  # a comment\n  {line}\n")
    with pytest.raises(SettingsError, match=rf"CHAT_CACHE_PACK=.*synonyms line 2: {says}"):
        load_pack(path)


def test_a_packs_words_are_read_as_english_reads_them(tmp_path: Path) -> None:
    reader = Analyzer(load_pack(_write(tmp_path, "synonyms: |\n  price, fee\n")))
    # "price" is English's "cost", the intent of a price question: the pack joins "fee" to it
    assert reader.analyse("What is the fee for Pro?").intent == "cost"
    assert reader.analyse("How long is the trial?").intent == "time"  # English's phrase holds


def test_a_packs_words_take_part_in_phrases(tmp_path: Path) -> None:
    text = ("phrases: {end my subscription: cancel subscription}\n"
            "synonyms: |\n  sub => subscription\n")
    reader = Analyzer(load_pack(_write(tmp_path, text)))
    cancel = reader.variation_key(reader.analyse("How do I cancel my subscription?"))
    assert reader.variation_key(reader.analyse("How do I end my sub?")) == cancel
    assert reader.variation_key(reader.analyse("When does my sub end?")) != cancel


@pytest.mark.parametrize(("text", "says"), [
    ("synonyms: |\n  price, how long\n", "joins words English reads apart (cost, when)"),
    ("synonyms: |\n  workspace, org\n  org, team space\n", "'org' is already on"),
    ("phrases: {how long: duration}\n", "English reads 'how long' as 'when'"),
    ("phrases: {prices: fare}\n", "English reads 'prices' as 'cost'"),
    ("synonyms: |\n  connect => integrate\n  connecting, link\n", "'connecting' is already on"),
    ("names: [on]\n", "quote on, off, yes and no"),
    ("colours: [red]\n", "unknown section(s) colours"),
    ("- just a list\n", "expected a mapping of sections"),
    ("thresholds: {local: 0.6}\n", "'thresholds' maps a backend to {mode: number}"),
])
def test_a_pack_that_cannot_be_read_is_refused(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)):
        load_pack(_write(tmp_path, text))


def test_unreadable_or_oversized_files_are_settings_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"CHAT_CACHE_PACK=.*cannot read it"):
        load_pack(tmp_path / "missing.yaml")
    big = _write(tmp_path, "synonyms: |\n" + "  a, b\n" * (MAX_PACK_BYTES // 7 + 1))
    with pytest.raises(SettingsError, match="larger than 1 MiB"):
        load_pack(big)
    with pytest.raises(SettingsError, match="larger than 1 MiB"):
        load_pack("/dev/zero")


def test_english_alone_is_the_default() -> None:
    assert load_pack(None) is ENGLISH and ENGLISH.categories == {} and ENGLISH.names == set()


def test_the_reference_pack_loads() -> None:
    pack = load_pack(PACK_FILE)
    assert pack.name == "nimbus-reference" and len(pack.categories) == 5
    assert pack.threshold("local", "strict") == 0.60


def test_the_cache_reads_the_pack_its_settings_name(tmp_path: Path) -> None:
    path = _write(tmp_path, PACK)
    cache = ChatCache.from_settings(Settings.from_env().replace(cache_pack=str(path),
                                                                redis_url=None))
    try:
        question = "Can I delete my workspace?"
        cache.store(question, SCOPE, CachedAnswer(question, "Yes: Settings → Delete.", "m",
                                                  "fast", 1, 1, time.time()))
        hit = cache.lookup("Can I delete my organisation?", SCOPE)
        assert hit is not None and hit.entry.answer == "Yes: Settings → Delete."
        assert cache.lookup("Can I export my organisation?", SCOPE) is None  # guards still hold
        described = cache.describe()
        assert described["pack"] == {"name": "acme", "entries": 6, "categories": ["workspaces"]}
        assert str(tmp_path) not in str(described)  # where it lies on the server is not shown
        assert cache.index.threshold == 0.5
    finally:
        cache.close()


@pytest.mark.integration
def test_the_service_answers_in_the_packs_words(start_chat_service, simulator,
                                                tmp_path: Path) -> None:
    service = start_chat_service(simulator.url, CHAT_CACHE_PACK=str(_write(tmp_path, PACK)))
    answer = httpx.post(f"{service.url}/api/chat",
                        json={"message": "How do I delete my workspace?"}, timeout=30)
    assert answer.status_code == 200
    quick = httpx.post(f"{service.url}/api/chat/quick",
                       json={"message": "How do I delete my org?"}).json()
    assert quick["hit"] is True and quick["answer"] == answer.json()["answer"]
    assert httpx.get(f"{service.url}/api/cache/stats").json()["pack"]["name"] == "acme"
