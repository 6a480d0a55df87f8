"""``python -m service``: run the service (gunicorn + gevent), or print its settings table."""

from __future__ import annotations

import argparse
import sys

from service.settings import Settings, SettingsError, settings_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "settings"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn worker processes (each runs gevent greenlets)")
    args = parser.parse_args(argv)
    if args.command == "settings":
        print(settings_table())
        return 0
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from service.server import serve

    return serve(args.host, args.port, args.workers, settings)


if __name__ == "__main__":
    sys.exit(main())
