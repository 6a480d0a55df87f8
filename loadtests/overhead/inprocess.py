"""A request's fixed cost measured in process: the app's CPU per cache hit and per short miss.

The overhead sweep reads the fixed cost from a gunicorn worker's CPU under load, where one run
and the next differ by 10-20 % on a shared box. To compare two versions of the code (or settings)
this drives the WSGI app directly, the way the gunicorn gevent worker does after parsing a
request (gevent's monkey patching, the arrival stamp, the body read to its end and closed), so
only the app's own work is counted: Flask, validation, the cache, telemetry, the SDK call and
the rendering, without sockets to a client. A miss asks a new question each time of a real
simulator answering one token at once, so its figure is the per-request part of a miss.

``python -m loadtests.overhead.inprocess --requests 2000 --rounds 5`` prints the best round's
µs per request of each kind. An A/B of two checkouts: run this file from one checkout with
``PYTHONPATH`` set to the other, alternating, and read the ratio:
``PYTHONPATH=/path/to/old python loadtests/overhead/inprocess.py``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402  (after the monkey patching, as in the gunicorn gevent worker)
import io  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from loadtests.processes import start_simulator  # noqa: E402
from service.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.timings import ARRIVED  # noqa: E402

__all__ = ["ask", "build_app", "main", "measure"]

_PATH = "/v1/chat/completions"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _environ(body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": _PATH, "QUERY_STRING": "", "RAW_URI": _PATH,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_ACCEPT": "text/event-stream", "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(), "wsgi.multithread": False,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0),
        ARRIVED: (time.monotonic(), time.time_ns()),
    }


def ask(app: WsgiApp, question: str) -> bytes:
    """Ask ``question`` as a streamed chat completion; the whole answer, checked to be one."""
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": question}]}).encode()
    status: list[str] = []
    result = app(_environ(body), lambda s, headers, *exc: status.append(s))
    try:
        answer = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    if not status or not status[0].startswith("200") or b"[DONE]" not in answer:
        raise RuntimeError(f"unexpected answer: {status} {answer[:200]!r}")
    return answer


def build_app(simulator_url: str, telemetry: bool) -> WsgiApp:
    """The service's WSGI app in front of ``simulator_url``, as measured: no pre-warm (its
    background answers would be counted), quiet logs, room for every question asked."""
    settings = Settings.from_env({}, openai_base_url=f"{simulator_url}/v1", prewarm=False,
                                 log_level="WARNING", telemetry=telemetry,
                                 cache_index_bytes=256 * 1024 * 1024)
    return create_app(settings)


def measure(app: WsgiApp, requests: int, rounds: int) -> dict[str, float]:
    """The best round's CPU µs per request: ``hit`` (one cached question) and ``miss``."""
    ask(app, "How do I reset my password?")  # cached from here on
    best = {"hit": float("inf"), "miss": float("inf")}
    serial = 0
    for _ in range(rounds):
        for kind in ("hit", "miss"):
            started = time.process_time()
            for _ in range(requests):
                serial += 1
                ask(app, "How do I reset my password?" if kind == "hit"
                     else f"Question number {serial} about invoice {serial * 7919}?")
            spent = (time.process_time() - started) / requests * 1e6
            best[kind] = min(best[kind], spent)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--telemetry", choices=("on", "off"), default="on")
    parser.add_argument("--tokens", type=int, default=1,
                        help="a miss's answer length; two lengths give the per-token part")
    args = parser.parse_args(argv)
    simulator = start_simulator("fixed", extra_args=[
        "--ttft-ms", "0", "--itl-ms", "0", "--output-tokens", str(args.tokens),
        "--log-level", "WARNING"])
    try:
        app = build_app(simulator.url, telemetry=args.telemetry == "on")
        best = measure(app, args.requests, args.rounds)
    finally:
        simulator.stop()
    print(f"in process, telemetry {args.telemetry}, best of {args.rounds} x {args.requests}: "
          f"hit {best['hit']:.0f} µs, miss ({args.tokens} token{'' if args.tokens == 1 else 's'}) "
          f"{best['miss']:.0f} µs of CPU "
          "per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
