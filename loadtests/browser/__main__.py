"""``python -m loadtests.browser``: browser sessions for a load run, or the page's screenshot.

``drive`` is what ``make load LOAD_ARGS="--browsers N"`` starts beside Locust; ``screenshot``
draws docs/chat-page.png from a running service (``make serve`` first).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from loadtests.browser.screenshot import take_screenshot
from loadtests.browser.sessions import drive_sessions


def _think_time(text: str) -> tuple[float, float]:
    low, _, high = text.partition(",")
    return float(low), float(high or low)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.browser",
                                     description="Headless chromium through the chat page.")
    commands = parser.add_subparsers(dest="command", required=True)
    drive = commands.add_parser("drive", help="chat through the page, one JSON line per answer")
    drive.add_argument("--host", required=True, help="the service, e.g. http://127.0.0.1:8000")
    drive.add_argument("--sessions", type=int, default=2, help="browser sessions (default 2)")
    drive.add_argument("--duration", type=float, required=True, help="seconds to run")
    drive.add_argument("--out", type=Path, required=True, help="JSON lines file to append to")
    drive.add_argument("--seed", type=int, default=0, help="seed of the sessions' questions")
    drive.add_argument("--think-time", type=_think_time, default=(0.5, 2.0),
                       help="seconds between questions, MIN,MAX (default 0.5,2)")
    shot = commands.add_parser("screenshot", help="a PNG of the page with a short conversation")
    shot.add_argument("--host", default="http://127.0.0.1:8000",
                      help="the running service (default http://127.0.0.1:8000)")
    shot.add_argument("--out", type=Path, default=Path("docs/chat-page.png"),
                      help="where to write the PNG (default docs/chat-page.png)")
    args = parser.parse_args(argv)
    if args.command == "drive":
        asyncio.run(drive_sessions(args.host, args.sessions, args.duration, args.out, args.seed,
                                   args.think_time))
    else:
        take_screenshot(args.host, args.out)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
