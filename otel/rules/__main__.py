"""``python -m otel.rules [--check]``: regenerate ``otel/rules/chatperf.rules.yml``."""

from __future__ import annotations

import argparse
import sys

from otel.rules import RULES_PATH, write_rules

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel.rules", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    current = write_rules(check=args.check)
    if args.check and not current:
        print(f"{RULES_PATH} is stale: run python -m otel.rules", file=sys.stderr)
        return 1
    print(f"{RULES_PATH}: {'up to date' if current else 'written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
