"""``python -m loadtests <command>``: a table of subcommands, one module each."""

from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main"]

# name -> module with a ``main(argv) -> int``
COMMANDS = {
    "cache-eval": "loadtests.cache_eval",
    "run": "loadtests.runner.cli",
    "gate": "loadtests.gate",
    "overhead": "loadtests.overhead.cli",
    "soak": "loadtests.soak",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m loadtests {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
