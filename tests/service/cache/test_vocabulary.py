"""A deployment's synonyms file (``CHAT_CACHE_SYNONYMS``): read in Solr's format, used by every
tier, refused with the line that cannot be read."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.cache import CachedAnswer, CacheScope, ChatCache
from service.cache.analysis import analyse, use_vocabulary, vocabulary
from service.cache.variations import variation_key
from service.cache.vocabulary import BUILT_IN, MAX_FILE_BYTES, MAX_TERM_WORDS, load, parse
from service.settings import Settings, SettingsError

SCOPE = CacheScope("public", "v1", "auto", "")
PRODUCT_WORDS = """\
# Nimbus's own words
workspace, organisation, org
kb, help center => knowledge base
"""


@pytest.fixture
def synonyms_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "synonyms.txt"
    path.write_text(PRODUCT_WORDS)
    yield path
    use_vocabulary(BUILT_IN)  # the analysis memo and vocabulary are per process


def test_equivalent_and_explicit_lines() -> None:
    assert parse(PRODUCT_WORDS) == {
        ("organisation",): "workspace", ("org",): "workspace",
        ("kb",): "knowledge_base", ("help", "center"): "knowledge_base",
        ("knowledge", "base"): "knowledge_base",
    }


@pytest.mark.parametrize(("line", "says"), [
    ("workspace", "one term alone"),
    ("workspace, , org", "an empty term"),
    ("kb =>", "an empty term"),
    ("kb => knowledge base, docs", "one term after '=>'"),
    ("a => b => c", "more than one '=>'"),
])
def test_a_line_that_cannot_be_read_is_named(line: str, says: str) -> None:
    with pytest.raises(SettingsError, match=f"line 2: {says}"):
        parse(f"# a comment\n{line}\n")


def test_the_files_words_are_read_as_the_lexicon_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("price, cost, fee\nduration, how long\nconfirm button, ok button\n")
    try:
        use_vocabulary(load(path))
        # "price" is the lexicon's "cost", the intent of a price question: the file joins it
        assert analyse("What is the fee for Pro?").intent == "cost"
        assert analyse("What does Pro cost?").intent == "cost"
        assert analyse("How long is the trial?").intent == "time"  # the lexicon's phrase holds
        assert analyse("What is the duration of the trial?").intent == "time"
        assert "confirm_button" in analyse("Where is the ok button?").content  # "ok" is kept
    finally:
        use_vocabulary(BUILT_IN)


def test_the_files_words_take_part_in_the_lexicons_phrases(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("sub => subscription\nhandset => phone\nclient, customer\n")
    cancel = "How do I cancel my subscription?"
    assert variation_key(analyse("How do I end my sub?")) != variation_key(analyse(cancel))
    try:
        use_vocabulary(load(path))
        # "end my subscription" is the lexicon's "cancel my subscription": so is "end my sub"
        assert variation_key(analyse("How do I end my sub?")) == variation_key(analyse(cancel))
        assert variation_key(analyse("When does my sub end?")) != variation_key(analyse(cancel))
        handset, mobile = analyse("Is there a handset app?"), analyse("Is there a mobile app?")
        assert handset.content == mobile.content
        # the file's word read either way round: "client service" is the lexicon's support desk
        assert analyse("How do I reach client service?").content == {"contact", "support"}
    finally:
        use_vocabulary(BUILT_IN)


@pytest.mark.parametrize(("text", "says"), [
    ("price, how long\n", "line 1: the lexicon reads 'price' as 'cost' and 'how long' as 'when'"),
    ("workspace, org\norg, team space\n", "line 2: 'org' is already on line 1"),
])
def test_a_file_cannot_change_what_the_lexicon_reads(text: str, says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)):
        parse(text)


def test_an_unreadable_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"CHAT_CACHE_SYNONYMS=.*cannot read it"):
        load(tmp_path / "missing.txt")


def test_the_files_words_join_the_variation_keys(synonyms_file: Path) -> None:
    asked, cached = "How do I delete my org?", "How do I delete my workspace?"
    assert variation_key(analyse(asked)) != variation_key(analyse(cached))
    use_vocabulary(load(synonyms_file))
    key = variation_key(analyse(asked))  # the memo was cleared: read with the new words
    assert key is not None and key == variation_key(analyse(cached))
    assert analyse("Where is the help center?").content == {"knowledge_base"}
    use_vocabulary(BUILT_IN)
    assert analyse(asked).content != analyse(cached).content


def test_the_cache_reads_the_file_its_settings_name(synonyms_file: Path) -> None:
    settings = Settings.from_env().replace(cache_synonyms=str(synonyms_file), redis_url=None)
    cache = ChatCache.from_settings(settings)
    try:
        question = "Can I delete my workspace?"
        cache.store(question, SCOPE, CachedAnswer(question, "Yes: Settings → Delete.", "m",
                                                  "fast", 1, 1, time.time()))
        hit = cache.lookup("Can I delete my organisation?", SCOPE)
        assert hit is not None and hit.entry.answer == "Yes: Settings → Delete."
        assert cache.lookup("Can I export my organisation?", SCOPE) is None  # guards still hold
        described = cache.describe()
        assert described["synonyms_file"] == synonyms_file.name
        assert described["synonyms_file_entries"] == 5
    finally:
        cache.close()
    assert vocabulary().source == synonyms_file.name


@pytest.mark.integration
def test_the_service_answers_in_the_files_words(start_chat_service, simulator,
                                                synonyms_file: Path) -> None:
    service = start_chat_service(simulator.url, CHAT_CACHE_SYNONYMS=str(synonyms_file))
    answer = httpx.post(f"{service.url}/api/chat",
                        json={"message": "How do I delete my workspace?"}, timeout=30)
    assert answer.status_code == 200
    quick = httpx.post(f"{service.url}/api/chat/quick",
                       json={"message": "How do I delete my org?"}).json()
    assert quick["hit"] is True and quick["answer"] == answer.json()["answer"]
    stats = httpx.get(f"{service.url}/api/cache/stats").json()
    assert stats["synonyms_file"] == synonyms_file.name


def test_a_file_is_bounded_in_size_and_in_the_words_of_a_term(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    huge.write_text("workspace, organisation\n" * (MAX_FILE_BYTES // 20))
    long_term = tmp_path / "long.txt"
    long_term.write_text("kb, " + " ".join(f"w{i}" for i in range(MAX_TERM_WORDS + 1)) + "\n")
    for path, said in ((huge, "larger than"), (long_term, "a term of 9 words"),
                       (Path("/dev/zero"), "not a regular file"), (tmp_path, "cannot read")):
        with pytest.raises(SettingsError, match=said):
            load(path)
