"""The command line a CI owner wires up: every subcommand listed, every help with defaults and
exit codes, bad input a clear exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadtests.__main__ import COMMANDS


def _loadtests(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtests", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def test_help_lists_every_subcommand_with_a_line_each() -> None:
    result = _loadtests("--help")
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()
             if line.startswith("  ")}
    assert set(lines) == set(COMMANDS)
    assert all(len(line.split()) > 3 for line in lines.values())  # a description, not a name


def test_no_or_unknown_command_exits_2_with_the_list() -> None:
    for args in ((), ("nope",)):
        result = _loadtests(*args)
        assert result.returncode == 2
        assert all(name in result.stderr for name in COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_help_shows_defaults_and_exit_codes(command: str) -> None:
    result = _loadtests(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "(default: " in result.stdout
    assert "exit codes:" in result.stdout
    assert "  0 " in result.stdout and "  1 " in result.stdout


def test_a_threshold_on_an_unknown_figure_stops_a_run_before_it_starts(tmp_path) -> None:
    from loadtests.runner.cli import execute
    from loadtests.runner.config import RunConfig

    assert execute(RunConfig(thresholds=("ttft_p999_s<1",), out=tmp_path)) == 2
    assert not list(tmp_path.iterdir())  # nothing was started, no run folder written


@pytest.mark.parametrize(("environ", "strict"), [({"CI": "true"}, True), ({}, False)])
def test_run_is_strict_by_default_in_ci(environ: dict[str, str], strict: bool) -> None:
    from loadtests.runner.config import parse_args

    assert parse_args([], environ).strict is strict
    assert parse_args(["--no-strict"], environ).strict is False
