"""Settings come from the environment once, with clear errors; docs/settings.md lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, settings_table

SETTINGS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.uses_simulator
    assert settings.fast_model == "gpt-4o-mini" and settings.smart_model == "gpt-4o"
    assert settings.redis_url is None and settings.prewarm is True


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env({
        "CHAT_PREWARM": "0", "CHAT_CACHE_TTL_SECONDS": "60", "CHAT_PING_INTERVAL_SECONDS": "0.5",
        "CHAT_API_KEYS": "k1, k2,", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    })
    assert settings.prewarm is False
    assert settings.cache_ttl_seconds == 60
    assert settings.ping_interval_seconds == 0.5
    assert settings.api_keys == ("k1", "k2")
    assert not settings.uses_simulator


@pytest.mark.parametrize(("name", "value"), [("CHAT_PREWARM", "maybe"),
                                              ("CHAT_CACHE_TTL_SECONDS", "a day")])
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_the_settings_page_lists_every_setting_as_the_code_defines_it() -> None:
    text = SETTINGS_PAGE.read_text()
    match = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->",
                      text, re.S)
    assert match, "docs/settings.md lacks the settings table markers"
    assert match.group(1) == settings_table(), "docs/settings.md's table is stale: " \
        "paste the output of `python -m service settings`"


@pytest.mark.parametrize(("name", "value"), [
    ("CHAT_RATE_LIMIT", "10/min"),
    ("CHAT_MAX_STREAMS_PER_WORKER", "0"),
    ("CHAT_PING_INTERVAL_SECONDS", "-1"),
    ("CHAT_CACHE_SEMANTIC_THRESHOLD", "1.5"),
    ("OTEL_TRACES_EXPORTER", "jaeger"),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ("CHAT_LOG_LEVEL", "LOUD"),
    ("OPENAI_BASE_URL", "127.0.0.1:8001/v1"),
    ("REDIS_URL", "http://127.0.0.1:6379"),
])
def test_a_value_the_service_cannot_run_with_is_refused_at_start(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        Settings.from_env({name: value})
    assert "\n" not in str(caught.value)
