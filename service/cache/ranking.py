"""The k best of many candidates, the same on every machine: ties at the cut go to the oldest.

``np.argpartition`` finds the k smallest keys in O(n), but when equal keys straddle the k-th
place, which of them it keeps depends on the sorting kernel numpy picks for the CPU (AVX2 or
not): one cache then read differently from one machine of a fleet to the next. Here the k-th
smallest value is found in O(n) (a value has no ties), the keys below it are all kept and the
keys equal to it are taken oldest first (smallest ``age``; ages are unique, so the choice is).
Still O(n): a partition of the values, one pass to pick the positions, a few small steps more
when ties straddle (docs/cache.md, "Every machine reads alike", has the cost).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SlotAges", "smallest"]


def smallest(keys: np.ndarray, k: int, age: np.ndarray) -> np.ndarray:
    """Positions of the ``k`` smallest ``keys``; of equal keys at the cut, those of the smallest
    ``age`` (unique, as long as ``keys``). The keys below the cut come first, then the tied ones,
    each in position order; ranking them is the caller's (few) work."""
    if k >= len(keys):
        return np.arange(len(keys))
    if k <= 0:
        return np.zeros(0, dtype=np.intp)
    cut = np.partition(keys, k - 1)[k - 1]
    chosen = np.flatnonzero(keys <= cut)
    if len(chosen) > k:  # equal keys straddle the cut
        at_cut = keys[chosen] == cut
        tied = chosen[at_cut]
        ages = age[tied]
        need = k - (len(chosen) - len(tied))
        oldest = tied[ages <= np.partition(ages, need - 1)[need - 1]]
        chosen = np.concatenate((chosen[~at_cut], oldest))
    return chosen


class SlotAges:
    """When each slot of an index was last stored (or stored again), as unique ascending stamps:
    the ``age`` that ``smallest`` and the indexes' rankings break ties by."""

    def __init__(self) -> None:
        self.of = np.zeros(0, dtype=np.int64)
        self._clock = 0

    def grow(self, slots: int) -> None:
        """Room for ``slots`` more slots (stamped 0 until stored)."""
        self.of = np.concatenate([self.of, np.zeros(slots, dtype=np.int64)])

    def stamp(self, slot: int) -> None:
        """``slot`` was stored now: it becomes the youngest."""
        self._clock += 1
        self.of[slot] = self._clock
