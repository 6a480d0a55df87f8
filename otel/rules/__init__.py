"""Prometheus recording and alerting rules for chatperf's targets, generated from targets.yaml.

``python -m otel.rules`` rewrites ``chatperf.rules.yml``; ``--check`` only reports whether the
committed file is stale. The promtool unit tests live in ``tests/`` beside the rules.
"""

from __future__ import annotations

from otel.rules.generate import RULES_PATH, build_rule_groups, record_name, render_rules
from otel.rules.targets import TARGETS_PATH, Targets, load_targets

__all__ = [
    "RULES_PATH",
    "TARGETS_PATH",
    "Targets",
    "build_rule_groups",
    "load_targets",
    "record_name",
    "render_rules",
    "write_rules",
]


def write_rules(check: bool = False) -> bool:
    """Regenerate the rule file from ``targets.yaml``; return whether it was already current.

    With ``check`` nothing is written.
    """
    text = render_rules(load_targets())
    current = RULES_PATH.exists() and RULES_PATH.read_text() == text
    if not check and not current:
        RULES_PATH.write_text(text)
    return current
