"""``python -m service``: run the service (gunicorn + gevent), or print its settings table."""

from __future__ import annotations

from gevent import monkey

# The gevent workers patch the standard library when they start; patched here first, before the
# launcher imports ssl (through the openai SDK), so that late patch has nothing to warn about.
monkey.patch_all()

import argparse  # noqa: E402 - after the monkey patching
import sys  # noqa: E402

from service.settings import Settings, SettingsError, settings_table  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "settings"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn worker processes, each running gevent greenlets "
                             "(default: one per CPU core with REDIS_URL; one without, as each "
                             "worker's in-memory cache is its own)")
    parser.add_argument("--upstream", choices=["env", "simulator"], default="env",
                        help="env: OPENAI_BASE_URL / OPENAI_API_KEY, the embedded simulator when "
                             "neither is set (default); simulator: always the simulator, "
                             "whatever the environment says (make serve)")
    args = parser.parse_args(argv)
    if args.command == "settings":
        print(settings_table())
        return 0
    from service.server import LaunchError, default_workers, serve, use_simulator

    if args.upstream == "simulator":
        use_simulator()
    try:
        settings = Settings.from_env()
        return serve(args.host, args.port, args.workers or default_workers(settings), settings)
    except (SettingsError, LaunchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
