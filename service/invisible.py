"""Characters nobody sees, removed from every text before it is keyed, stored or sent upstream.

A model reads every character it is sent; a person reading the conversation, and the cache key,
see only the visible ones. Text hidden in invisible characters — Unicode tag characters spelling
ASCII ("ASCII smuggling"), bytes encoded as variation selectors, zero-width runs — could then
steer an answer that the cache stores under the key of the visible question and serves to
everyone. So the service answers the text a person sees: these characters are removed at the
one validation point (``service.chat_request``), on every route and in the history, and nothing
downstream ever holds them. The choice to remove rather than refuse, and what it costs the few
legitimate uses (emoji joiners, direction marks, subdivision flags), is in docs/security.md.

Removed: control characters other than tab, line feed and carriage return (Cc); format
characters (Cf: zero-width space and joiners, direction marks, embeddings and isolates, the
byte-order mark, the soft hyphen, tag characters, invisible operators); private-use characters
(Co), which have no meaning a reader could check; every Default_Ignorable_Code_Point of Unicode
that is not in those categories (variation selectors, the combining grapheme joiner, Hangul
fillers, Mongolian selectors, Khmer inherent vowels, the reserved ignorable blocks); and the
noncharacters. ``tests/service/test_invisible.py`` checks the table against ``unicodedata``.
"""

from __future__ import annotations

import re

__all__ = ["INVISIBLE_RANGES", "strip_invisible"]

INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0008), (0x000B, 0x000C), (0x000E, 0x001F), (0x007F, 0x009F),  # controls
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2),  # Arabic and Syriac format characters
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; direction marks
    (0x202A, 0x202E),  # direction embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xE000, 0xF8FF),  # private use
    (0xFDD0, 0xFDEF),  # noncharacters
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # byte-order mark / zero-width no-break space
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFFB),  # reserved ignorables, interlinear annotation
    (0x110BD, 0x110BD), (0x110CD, 0x110CD),  # Kaithi number signs
    (0x13430, 0x1343F),  # Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tag characters, variation selectors supplement, reserved
    (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),  # supplementary private use
    # The two noncharacters at the end of every plane.
    *((plane + 0xFFFE, plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)),
)

_INVISIBLE = re.compile("[" + "".join(
    re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
    for low, high in INVISIBLE_RANGES
) + "]+")


def strip_invisible(text: str) -> str:
    """``text`` without the characters listed above (a fast no-op for plain text)."""
    if text.isascii() and text.isprintable():
        return text
    return _INVISIBLE.sub("", text)
