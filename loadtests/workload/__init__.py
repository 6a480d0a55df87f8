"""The reference workload: labelled questions, their variations, follow-ups and near-misses.

``Workload.load()`` reads ``questions.yaml``; ``workload.sample_session(rng, part)`` yields a
seeded conversation of ``Turn``s for the cache evaluation and the Locust users alike.
"""

from __future__ import annotations

from loadtests.workload.loader import (
    DATA_FILE,
    KINDS,
    PACK_FILE,
    PARTS,
    Canonical,
    Turn,
    Workload,
    typed,
)

__all__ = ["DATA_FILE", "KINDS", "PACK_FILE", "PARTS", "Canonical", "Turn", "Workload", "typed"]
