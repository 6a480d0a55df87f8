"""What every ``python -m loadtests`` command line shares: help that shows defaults and exit codes.

A CI owner reads ``--help`` to wire a job: each option's default and what each exit code means
must be there, the same way in every subcommand. ``--strict`` defaults to on under ``CI=true``,
so a CI job fails on an inconclusive verdict without having to remember the flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

__all__ = ["EXIT_CODES", "HelpFormatter", "add_strict", "ci_strict", "exit_codes_epilog"]

# The exit codes the load commands share (``run``, ``soak``, ``gate``).
EXIT_CODES: Mapping[int, str] = {
    0: "pass (or inconclusive without --strict: too few samples to tell, said loudly)",
    1: "a target or threshold missed, a regression against the baseline, or inconclusive "
       "with --strict",
    2: "harness error: nothing was judged (bad options, unreadable files, a run that could "
       "not be made, an incomplete run folder)",
    130: "interrupted (Ctrl-C or SIGTERM); everything the run started was stopped",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults appended to every option's help; descriptions and epilogs keep their lines.

    An option with no default (``None``, an empty list) says "default: none" instead of
    Python's spelling of it; a help text that states its default already is left alone.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        if action.default in (None, [], ()):
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


def exit_codes_epilog(codes: Mapping[int, str] = EXIT_CODES, *, interruptible: bool = True) -> str:
    """The "exit codes:" block of a command's ``--help``."""
    shown = {code: text for code, text in codes.items() if interruptible or code != 130}
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in shown.items())


def ci_strict(environ: Mapping[str, str]) -> bool:
    """``--strict``'s default: on in CI (``CI=true``), off on a laptop."""
    return environ.get("CI", "").lower() == "true"


def add_strict(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "--strict", action=argparse.BooleanOptionalAction, default=ci_strict(environ),
        help="exit 1 also when a target is inconclusive (too few samples to tell) "
             "(default: on when CI=true, else off)")
