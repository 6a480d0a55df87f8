"""Run the simulator: gevent's WSGI server, one greenlet per connection, no thread per stream.

Hundreds of open streams mostly sleep between tokens, which greenlets do for almost nothing on
one core. SIGTERM and SIGINT stop the server, giving open streams a moment before they are cut.
"""

from __future__ import annotations

import logging
import signal

import gevent
from gevent.pywsgi import WSGIServer

from .app import build_app
from .config import SimulatorConfig
from .connection import SocketExposingHandler

__all__ = ["make_server", "serve"]

_STOP_GRACE_SECONDS = 2.0
# Load runs open hundreds of connections at once; the default backlog would make some wait.
_LISTEN_BACKLOG = 1024

_log = logging.getLogger("loadtests.simulator")


def make_server(config: SimulatorConfig) -> WSGIServer:
    """A bound, not yet started server for ``config`` (port 0 picks a free one)."""
    return WSGIServer(
        (config.host, config.port),
        build_app(config),
        handler_class=SocketExposingHandler,
        backlog=_LISTEN_BACKLOG,
        log=None,  # our own one line per request replaces the access log
        error_log=logging.getLogger("loadtests.simulator.server"),
    )


def serve(config: SimulatorConfig) -> None:
    """Serve until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # Flask's and werkzeug's own loggers would add a second line per request.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(config)
    server.init_socket()
    host, port = server.address[:2]
    faults = ", ".join(f"{k}:{v:g}" for k, v in config.fault_rates.items()) or "none"
    _log.warning(
        "simulator on http://%s:%d (profile %s, seed %d, faults %s)",
        host, port, config.profile_name, config.seed, faults,
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(signum, server.stop, _STOP_GRACE_SECONDS)
    server.serve_forever()
