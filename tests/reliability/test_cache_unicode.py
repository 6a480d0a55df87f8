"""Issue 11, row 3: questions outside ASCII never get another question's cached answer.

The normaliser once kept ASCII tokens only, so "Как удалить мой аккаунт в Pro?" became "pro",
the same key as "Сколько стоит план Pro?", and every Chinese question became "". These tests ask
the real service (in-memory cache, fast simulator) one question, then a different one in the
same script, and check the second is not answered from the cache; the same question asked again
still is.
"""

from __future__ import annotations

import httpx
import pytest

from loadtests.processes import ManagedProcess

pytestmark = pytest.mark.integration

PAIRS = [
    ("Сколько стоит план Pro?", "Как удалить мой аккаунт в Pro?"),
    ("专业版多少钱\uff1f", "如何删除我的账户\uff1f"),
    ("专业版多少钱\uff1f", "专业版有哪些功能\uff1f"),  # shares 专业版: still a different question
    ("プロプランはいくらですか\uff1f", "アカウントを削除するには\uff1f"),
    ("👍", "❤️"),  # nothing left for a word tokenizer: must still not collide
]


def _ask(service: ManagedProcess, message: str) -> str:
    response = httpx.post(f"{service.url}/api/chat", json={"message": message}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["answer"]


def _quick(service: ManagedProcess, message: str) -> dict:
    response = httpx.post(f"{service.url}/api/chat/quick", json={"message": message}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("first", "second"), PAIRS,
                         ids=["ru", "zh", "zh-shared-word", "ja", "emoji"])
def test_a_different_question_in_another_script_is_not_a_hit(
    chat_service: ManagedProcess, first: str, second: str
) -> None:
    answer = _ask(chat_service, first)
    again = _quick(chat_service, first)
    assert again["hit"] is True and again["answer"] == answer  # the cache works for this script
    other = _quick(chat_service, second)
    assert other["hit"] is False, (
        f"{second!r} got the cached answer of {first!r} via the {other.get('tier')} tier"
    )


def test_spelling_differences_in_another_script_still_hit(chat_service: ManagedProcess) -> None:
    answer = _ask(chat_service, "Сколько стоит план Team?")
    # case, punctuation and spacing are not part of the question, in any script
    hit = _quick(chat_service, "  сколько СТОИТ план team  ")
    assert hit["hit"] is True and hit["answer"] == answer and hit["tier"] == "exact"
