"""``python -m dashboards build [--check]`` | ``push --url URL --token TOKEN [--folder UID]
[--datasource UID] [--tempo-datasource UID]`` | ``export [--out DIR]``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

if not all(importlib.util.find_spec(m) for m in ("grafana_foundation_sdk", "grafana_client")):
    print("error: the dashboards need Grafana's foundation SDK and grafana-client: pip install "
          "'chatperf[dashboards]' (make dashboards installs it)", file=sys.stderr)
    sys.exit(2)

from dashboards.build import for_export, render_dashboards, write_dashboards
from dashboards.grafana import DEFAULT_FOLDER, GrafanaError, push_dashboards

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
    push.add_argument("--datasource", default=None, metavar="UID",
                      help="preset the Prometheus datasource variable to this uid")
    push.add_argument("--tempo-datasource", default=None, metavar="UID",
                      help="preset the Tempo datasource variable to this uid")
    export = commands.add_parser("export", help="write the dashboards in Grafana's export "
                                                "format (__inputs), to import in any Grafana")
    export.add_argument("--out", type=Path, default=Path("."), help="directory to write into")
    args = parser.parse_args(argv)

    if args.command == "export":
        args.out.mkdir(parents=True, exist_ok=True)
        for path, text in render_dashboards().items():
            target = args.out / f"{path.stem}.export.json"
            target.write_text(json.dumps(for_export(json.loads(text)), indent=2) + "\n")
            print(f"{target}: written")
        return 0

    if args.command == "build":
        stale = write_dashboards(check=args.check)
        for path in stale:
            print(f"{path}: {'stale' if args.check else 'written'}")
        if args.check and stale:
            print("run python -m dashboards build", file=sys.stderr)
            return 1
        return 0
    try:
        uids = {name: uid for name, uid in (("datasource", args.datasource),
                                            ("tempo", args.tempo_datasource)) if uid}
        for url in push_dashboards(args.url, args.token, (args.folder, args.folder), uids):
            print(f"uploaded {url}")
    except GrafanaError as exc:
        print(f"push failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
