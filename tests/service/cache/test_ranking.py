"""``smallest``: the k smallest keys; of equal keys at the cut, the oldest."""

from __future__ import annotations

import numpy as np
import pytest

from service.cache.ranking import smallest

KEYS = np.array([3.0, 1.0, 2.0, 2.0, 2.0, 0.5, 2.0, 9.0])
AGE = np.array([10, 11, 16, 12, 15, 17, 13, 14])  # unique, not in position order


@pytest.mark.parametrize(("k", "expected"), [
    (0, []),
    (1, [5]),
    (3, [1, 5, 3]),  # four keys of 2.0 straddle the cut: the oldest (age 12) is kept
    (4, [1, 5, 3, 6]),
    (6, [1, 2, 3, 4, 5, 6]),  # every 2.0 inside
    (20, list(range(8))),
])
def test_ties_at_the_cut_go_to_the_oldest(k: int, expected: list[int]) -> None:
    assert smallest(KEYS, k, AGE).tolist() == expected


def test_many_equal_keys_give_the_oldest_whatever_their_positions() -> None:
    age = np.random.default_rng(7).permutation(5_000)
    assert sorted(age[smallest(np.zeros(5_000), 24, age)].tolist()) == list(range(24))
