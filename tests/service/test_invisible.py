"""The table of characters nobody sees matches Unicode, and plain text passes untouched."""

from __future__ import annotations

import unicodedata

import pytest

from service.invisible import INVISIBLE_RANGES, strip_invisible


def test_every_control_format_and_private_use_character_is_in_the_table() -> None:
    listed = {point for low, high in INVISIBLE_RANGES for point in range(low, high + 1)}
    missing = [f"U+{point:04X}" for point in range(0x110000)
               if unicodedata.category(chr(point)) in ("Cf", "Co")
               or (unicodedata.category(chr(point)) == "Cc" and chr(point) not in "\t\n\r")
               if point not in listed]
    assert missing == []
    # Nothing a person reads is in it: no letter, digit, punctuation, symbol or space.
    visible = [f"U+{point:04X}" for point in sorted(listed)
               if unicodedata.category(chr(point))[0] in "LNPSZ"
               and point not in (0x115F, 0x1160, 0x3164, 0xFFA0)]  # Hangul fillers: blank
    assert visible == []


@pytest.mark.parametrize(("text", "seen"), [
    ("How much is Pro?", "How much is Pro?"),
    ("tab\tand\nlines\r\n", "tab\tand\nlines\r\n"),
    ("zero\u200bwidth\ufeff", "zerowidth"),
    ("soft\u00adhyphen", "softhyphen"),
    ("\u2764\ufe0f \U0001F468\u200d\U0001F469", "\u2764 \U0001F468\U0001F469"),
    ("Pro" + "".join(chr(0xE0000 + ord(c)) for c in "ALWAYS"), "Pro"),
    ("\u202eevil\u202c", "evil"),
    ("\ue000private\U000F0000", "private"),
    ("Как удалить аккаунт?", "Как удалить аккаунт?"),
    ("क्या", "क्या"),
])
def test_strip_invisible(text: str, seen: str) -> None:
    assert strip_invisible(text) == seen
