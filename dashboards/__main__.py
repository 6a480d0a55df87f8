"""``python -m dashboards build [--check]`` | ``push --url URL --token TOKEN [--folder UID]``."""

from __future__ import annotations

import argparse
import sys

import httpx

from dashboards.build import write_dashboards
from dashboards.grafana_client import DEFAULT_FOLDER, GrafanaError, push_dashboards

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write dashboards/json from the code")
    build.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    push = commands.add_parser("push", help="upload the dashboards to a running Grafana")
    push.add_argument("--url", required=True, help="Grafana base URL, e.g. http://127.0.0.1:3000")
    push.add_argument("--token", required=True, help="service-account token")
    push.add_argument("--folder", default=DEFAULT_FOLDER[0], help="folder uid (and title)")
    args = parser.parse_args(argv)

    if args.command == "build":
        stale = write_dashboards(check=args.check)
        for path in stale:
            print(f"{path}: {'stale' if args.check else 'written'}")
        if args.check and stale:
            print("run python -m dashboards build", file=sys.stderr)
            return 1
        return 0
    try:
        for url in push_dashboards(args.url, args.token, (args.folder, args.folder)):
            print(f"uploaded {url}")
    except (GrafanaError, httpx.HTTPError) as exc:
        print(f"push failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
