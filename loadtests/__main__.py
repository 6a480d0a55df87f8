"""``python -m loadtests <command>``: a table of subcommands, one module each.

A new subcommand is one line in ``COMMANDS``; its line in ``--help`` is the first line of its
module's docstring (read from the source, so listing the commands imports none of them).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

__all__ = ["COMMANDS", "main", "usage"]

# The harness extra's libraries (pyproject.toml): Locust runs as a child process, so a missing
# one would otherwise surface half-way through a run.
HARNESS_LIBRARIES = ("locust", "psutil")

# name -> module with a ``main(argv) -> int``
COMMANDS = {
    "run": "loadtests.runner.cli",
    "stack": "loadtests.runner.topology",
    "gate": "loadtests.gate",
    "overhead": "loadtests.overhead.cli",
    "soak": "loadtests.soak",
    "cache-eval": "loadtests.cache_quality.evaluate",
    "cache-calibrate": "loadtests.cache_quality.calibrate",
    "cache-judge": "loadtests.cache_quality.judge_training",
}


def _summary_line(module: str) -> str:
    """The first line of ``module``'s docstring, without its ``python -m …`` prefix."""
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec else None
    doc = ast.get_docstring(ast.parse(Path(origin).read_text())) if origin else None
    first = (doc or "").strip().splitlines()[0] if doc else ""
    return first.split(":", 1)[1].strip() if first.startswith("``python -m") else first


def usage() -> str:
    """Every subcommand with one line each, and how to get its own help."""
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m loadtests COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {_summary_line(module)}" for name, module in COMMANDS.items()]
    lines += ["", "python -m loadtests COMMAND --help shows a command's options, their defaults "
              "and its exit codes."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not argv or argv[0] not in COMMANDS:
        problem = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"{problem}\n\n{usage()}", file=sys.stderr)
        return 2
    missing = [name for name in HARNESS_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"error: the load harness needs {', '.join(missing)}: pip install "
              "'chatperf[harness]' (make load and make test install it)", file=sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
