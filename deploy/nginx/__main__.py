"""``python -m deploy.nginx``: the NGINX config for chatperf instances, from their settings.

Run it with the instances' environment (their ``CHAT_*`` settings), e.g.::

    python -m deploy.nginx --backend 10.0.0.5:8000 --backend 10.0.0.6:8000 \\
        --listen 80 --out /etc/nginx/conf.d/chatperf.conf
    python -m deploy.nginx --backend 127.0.0.1:8000 --standalone /tmp/chatperf-nginx
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from deploy.nginx.render import ProxyOptions, backends_from, render, render_standalone
from service.settings import Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deploy.nginx",
                                     description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("--backend", action="append", required=True, metavar="HOST:PORT",
                        help="a chatperf instance (repeat for each; a name that resolves to "
                             "several addresses stands for all of them)")
    parser.add_argument("--listen", default="127.0.0.1:8080",
                        help="NGINX's listen address (default 127.0.0.1:8080)")
    parser.add_argument("--access-log", default="/var/log/nginx/chatperf.access.log",
                        help="access log path, or off")
    parser.add_argument("--max-fails", type=int, default=2,
                        help="failed attempts that take an instance out (default 2)")
    parser.add_argument("--fail-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="how long it stays out, and the window for --max-fails")
    parser.add_argument("--out", type=Path, help="write here instead of standard output")
    parser.add_argument("--standalone", type=Path, metavar="PREFIX",
                        help="also write PREFIX/nginx.conf, which runs NGINX without root with "
                             "every file under PREFIX, and print the command")
    return parser


def proxy_options(args: argparse.Namespace, argv: Sequence[str]) -> ProxyOptions:
    """The options ``argv`` (parsed as ``args``) ask for, with ``argv`` as the recipe."""
    return ProxyOptions(
        backends=backends_from(args.backend), listen=args.listen, access_log=args.access_log,
        max_fails=args.max_fails, fail_timeout_seconds=args.fail_timeout,
        command=shlex.join(["python", "-m", "deploy.nginx", *argv]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        text = render(proxy_options(args, argv), Settings.from_env())
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.standalone is not None:
        files = render_standalone(text, args.standalone)
        print(shlex.join(files.argv()))
    elif args.out is not None:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
