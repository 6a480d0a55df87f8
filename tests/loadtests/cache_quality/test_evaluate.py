"""``cache-eval``: one row per pack, operating point and backend, and its precision floors."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.__main__ import main as loadtests_main

SMALL = ["cache-eval", "--requests", "200", "--embeddings", "lexical", "--parts", "heldout"]


def test_the_command_prints_one_row_per_pack_mode_and_backend(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main([*SMALL, "--embeddings", "lexical,bogus"]) == 0
    out = capsys.readouterr().out
    assert "== bogus: skipped" in out
    assert "| pack | match | backend | heldout | synonyms | unseen | unseen-2 |" in out
    for row in ("| english | strict | lexical |", "| english | balanced | lexical |",
                "| nimbus-reference | strict | lexical |",
                "| nimbus-reference | balanced | lexical |",
                "| nimbus-reference | exact tier only | — |"):
        assert row in out
    assert "seen while tuning: synonyms" in out


def test_a_teams_own_set_is_a_column_and_its_floor_is_held(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = tmp_path / "our-questions.yaml"
    ours.write_text("- question: How do I delete my workspace?\n"
                    "  paraphrases: ['How can I remove my workspace?']\n"
                    "  near_misses: ['How do I delete my account?']\n")
    assert loadtests_main([*SMALL, "--pack", "reference", "--match", "strict",
                           "--synonym-set", str(ours)]) == 0
    out = capsys.readouterr().out
    assert "| unseen-2 | our-questions |" in out
    assert "| nimbus-reference | strict | lexical |" in out and "| english |" not in out
    # a "near-miss" that is only the question said politely: every hit on it is wrong
    ours.write_text("- question: How do I delete my workspace?\n"
                    "  near_misses: ['Can you tell me how do I delete my workspace, please?']\n")
    assert loadtests_main([*SMALL, "--pack", "none", "--match", "strict",
                           "--synonym-set", str(ours)]) == 1
    assert "precision floor missed: english · strict · lexical on our-questions: 0.00%" \
        in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--match", "loose"], ["--pack", "/no/such/pack.yaml"],
                                  ["--synonym-set", "/no/such/set.yaml"]])
def test_bad_options_are_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert loadtests_main([*SMALL, *args]) == 2
    assert capsys.readouterr().err.startswith("error: ")
