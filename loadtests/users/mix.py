"""Named scenario mixes: which user classes run, and in what proportion.

Locust's user classes carry fixed weights; a mix chosen on the command line (``--mix``) sets them
at ``init`` so the same locustfile serves a pure chat run, an OpenAI-client run or a blend.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["DEFAULT_MIX", "MIXES", "apply_mix"]

DEFAULT_MIX = "chat"

# mix name → {user class name: weight}
MIXES: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "chat": {"ChatUser": 1},
    "openai": {"OpenAIUser": 1},
    "quick": {"QuickUser": 1},
    # A product front end: mostly chat streams, some API clients, a few instant cache checks.
    "mixed": {"ChatUser": 7, "OpenAIUser": 2, "QuickUser": 1},
})


def apply_mix(environment: Any, name: str) -> None:
    """Keep only the mix's user classes in ``environment`` and give them the mix's weights."""
    try:
        weights = MIXES[name]
    except KeyError:
        raise ValueError(f"unknown mix {name!r}; choose from {', '.join(MIXES)}") from None
    chosen = [cls for cls in environment.user_classes if cls.__name__ in weights]
    for cls in chosen:
        cls.weight = weights[cls.__name__]
    environment.user_classes = chosen
