"""``python -m loadtests run``: start what is needed, run the reference load, print the verdict.

An inconclusive verdict (a target missed by a run too small to tell) exits 0 unless ``--strict``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from loadtests.gate import exit_code
from loadtests.runner.config import RunConfig, parse_args
from loadtests.runner.run import HarnessError, run_load

__all__ = ["execute", "main"]


def execute(config: RunConfig) -> int:
    """Run ``config`` and turn the outcome into the exit code (shared with the soak)."""
    try:
        result = run_load(config)
    except HarnessError as exc:
        print(f"harness error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: everything this run started has been stopped", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:  # unreadable targets file, run folder not writable
        print(f"harness error: {exc}", file=sys.stderr)
        return 2
    return exit_code(result.verdict, config.strict)


def main(argv: Sequence[str] | None = None) -> int:
    return execute(parse_args(argv))
