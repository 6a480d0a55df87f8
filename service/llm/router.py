"""Smart model selection: a fast model for simple questions, a smart one for complex ones.

The rules are deliberately plain and explainable: each decision carries a ``reason`` that the
``meta`` event shows and the stats count, so an operator can see why traffic went where it went.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.chat_request import ChatMessage
from service.settings import Settings

__all__ = ["ModelRouter", "RouteDecision"]


@dataclass(frozen=True)
class RouteDecision:
    """Which model answers, its tier, and why."""

    tier: str  # "fast" | "smart"
    model: str
    reason: str


# Ordered: the first rule that matches names the reason.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("code", re.compile(
        r"```|\b(code|function|class|method|script|python|javascript|typescript|sql|regex|"
        r"stack ?trace|traceback|exception|debug|compile|refactor|implement(ation)?|snippet|"
        r"api call|endpoint|json schema)\b", re.I)),
    ("comparison", re.compile(
        r"\b(compare|comparison|versus|vs\.?|difference between|differences|better than|"
        r"pros and cons|trade-?offs?|which (one|is better)|rather than)\b", re.I)),
    ("analysis", re.compile(
        r"\b(analy[sz]e|analysis|evaluate|assess|explain (why|how)|in detail|step[- ]by[- ]step|"
        r"architecture|design|strategy|plan for|walk me through|implications?|root cause)\b",
        re.I)),
)
_ENUMERATION = re.compile(r"(^|\n)\s*(\d+[.)]|[-*•])\s+\S")


class ModelRouter:
    """Routes ``auto`` requests by the question's shape; honours ``fast``/``smart`` choices."""

    def __init__(self, settings: Settings) -> None:
        self._models = {"fast": settings.fast_model, "smart": settings.smart_model}
        self._long_chars = settings.router_long_message_chars

    def _decision(self, tier: str, reason: str) -> RouteDecision:
        return RouteDecision(tier, self._models[tier], reason)

    def choose(
        self, message: str, history: Sequence[ChatMessage] = (), requested: str = "auto"
    ) -> RouteDecision:
        if requested in self._models:
            return self._decision(requested, "requested")
        for reason, pattern in _RULES:
            if pattern.search(message):
                return self._decision("smart", reason)
        questions = message.count("?")
        if questions > 1 or len(_ENUMERATION.findall(message)) > 1:
            return self._decision("smart", "multi-part")
        if len(message) > self._long_chars:
            return self._decision("smart", "long")
        return self._decision("fast", "simple")
