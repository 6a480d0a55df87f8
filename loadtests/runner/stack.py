"""Start the parts a load run needs and is not given: simulator, redis-server, the service.

Everything started goes on the caller's ``ExitStack``, so it is stopped (process group and all)
however the run ends — finished, failed, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from loadtests.processes import (
    ManagedProcess,
    redis_server_available,
    start_redis,
    start_service,
    start_simulator,
)
from loadtests.runner.config import RunConfig

__all__ = ["Stack", "start_stack"]


@dataclass
class Stack:
    """Where the service is and what backs it."""

    host: str
    upstream: str
    cache_backend: str
    service_pid: int | None = None  # the gunicorn master, when the service was started here
    cache_pack: str = "as configured on that service"

    def describe(self) -> str:
        return (f"service {self.host} · upstream {self.upstream} · "
                f"cache backend {self.cache_backend} · cache pack {self.cache_pack}")


def _started(stack: ExitStack, proc: ManagedProcess, processes: list[ManagedProcess]) -> None:
    processes.append(proc)
    stack.callback(proc.stop)


def start_stack(config: RunConfig, stack: ExitStack, processes: list[ManagedProcess]) -> Stack:
    """The service to load: ``--host`` as given, else one started here with its dependencies.

    Each started process is appended to ``processes`` at once, so even a start that fails
    half-way leaves a full list of what to check and whose log to keep.
    """
    if config.host:
        return Stack(config.host.rstrip("/"), "as configured on that service",
                     "as configured on that service")
    env = dict(os.environ)
    env.setdefault("CHAT_LOG_LEVEL", "WARNING")
    if config.upstream_url:
        upstream = f"{config.upstream_url} (OPENAI_BASE_URL)"
    else:
        sim = start_simulator(config.profile, extra_args=["--log-level", "WARNING",
                                                          *config.sim_args])
        _started(stack, sim, processes)
        env["OPENAI_BASE_URL"] = f"{sim.url}/v1"
        upstream = f"simulator, profile {config.profile} ({sim.url})"
    if config.redis_url:
        backend = f"redis {config.redis_url} (REDIS_URL)"
    elif redis_server_available():
        redis = start_redis()
        _started(stack, redis, processes)
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
        backend = f"redis (throwaway redis-server on port {redis.port})"
    else:
        env.pop("REDIS_URL", None)
        backend = "in-memory (no REDIS_URL and no redis-server binary)"
    if config.pack == "none":
        env.pop("CHAT_CACHE_PACK", None)
    else:
        env["CHAT_CACHE_PACK"] = config.pack
    service = start_service(env, workers=config.service_workers)
    _started(stack, service, processes)
    return Stack(service.url, upstream, backend, service.pid,
                 "none (English alone)" if config.pack == "none" else config.pack)
