"""The variation tier: recognised rephrasings of one question share a canonical key.

Paraphrase patterns and synonyms (``lexicon``) bring the words into one vocabulary; word order
stops mattering except where it carries meaning ("from Asana into Trello"); the intent, names,
numbers and negation stay in the key, so "How much is Pro?" and "What is in Pro?" never share
one. A question that falls in none of the five categories gets no key and goes to the semantic
tier.
"""

from __future__ import annotations

from service.cache.analysis import Analysis

__all__ = ["CATEGORIES", "variation_key"]

CATEGORIES = ("pricing", "features", "support", "implementation", "how-it-works")


def variation_key(analysis: Analysis) -> str | None:
    """``pricing|cost|plan_pro|`` style key, or None for an unrecognised question."""
    if not analysis.matchable or analysis.category is None or not (
        analysis.content or analysis.entities
    ):
        return None
    parts = (
        analysis.category,
        analysis.intent,
        " ".join(sorted(analysis.content)),
        " ".join(analysis.entity_order),
        " ".join(sorted(analysis.markers)),
        " ".join(analysis.bound),
    )
    return "|".join(parts)
