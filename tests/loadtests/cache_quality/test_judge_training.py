"""``cache-judge``: the shipped judge is what the command makes from the tuning part alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main as loadtests_main
from loadtests.cache_quality.judge_training import _same, _threshold
from service.cache.judge import JUDGE_FILE, load_judges


def test_the_threshold_is_the_lowest_that_keeps_the_precision() -> None:
    lookups = [(0.99, True), (0.95, True), (0.9, False), (0.85, True), (0.5, False)]
    assert _threshold(lookups, 0.97) == 0.95
    assert _threshold(lookups, 0.7) == 0.95  # 0.85 alone would keep 75 %, but 0.9 does not
    assert _threshold(lookups, 0.6) == 0.5
    assert _threshold([(0.9, False)], 0.97) == 1.0  # nothing keeps it: judge nothing


def test_the_check_forgives_float_noise_but_not_a_changed_pair() -> None:
    def judge(mean: float, pairs: int) -> dict:
        return {"judges": [{"mean": [mean, 3.07183], "trained_on": f"{pairs} judged pairs"}]}

    assert _same(judge(0.626741, 908), judge(0.626742, 908))  # another CPU's distillation
    assert not _same(judge(0.626741, 908), judge(0.63, 908))
    assert not _same(judge(0.626741, 908), judge(0.626741, 906))


def test_the_shipped_judge_is_reproducible(local_model_dir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main(["cache-judge", "--check"]) == 0, capsys.readouterr().out
    judges = load_judges(JUDGE_FILE)
    assert set(judges) == {"lexical", "local"}
    assert all(0.5 < j.threshold <= 1.0 and "tuning part" in j.trained_on
               for j in judges.values())
