"""``cache-calibrate``: a team's own set gives a frontier, a page and the settings to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main as loadtests_main
from loadtests.cache_quality.sets import REFERENCE_SETS


def test_the_frontier_page_and_the_chosen_settings(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main(["cache-calibrate", "--set", str(REFERENCE_SETS["unseen"]),
                           "--pack", "reference", "--embeddings", "lexical",
                           "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| lexical | strict |" in out and "| lexical | balanced |" in out
    assert "most recall at >= 97%: CHAT_CACHE_EMBEDDINGS=lexical CHAT_CACHE_MATCH=" in out
    assert "or in your pack: thresholds: {lexical: {" in out
    page = (tmp_path / "frontier.html").read_text()
    assert "<svg" in page and "Precision against recall" in page
    assert "CHAT_CACHE_SEMANTIC_THRESHOLD=" in page and "nimbus-reference" in page


def test_no_setting_meets_an_impossible_precision(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_text("- question: How do I delete my workspace?\n"
                    "  near_misses: ['how do i delete my workspace please']\n")
    assert loadtests_main(["cache-calibrate", "--set", str(ours), "--embeddings", "lexical",
                           "--out", str(tmp_path)]) == 1
    assert "no setting keeps precision >= 97%" in capsys.readouterr().out
    assert loadtests_main(["cache-calibrate", "--set", str(tmp_path / "none.yaml")]) == 2
