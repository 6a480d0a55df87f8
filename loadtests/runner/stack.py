"""Start the parts a load run needs and is not given: simulator, redis-server, the service.

Everything started goes on the caller's ``ExitStack``, so it is stopped (process group and all)
however the run ends — finished, failed, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass

from loadtests.processes import (
    ManagedProcess,
    ProcessFailed,
    redis_server_available,
    start_redis,
    start_service,
    start_simulator,
)
from loadtests.runner.config import RunConfig

__all__ = ["Stack", "check_upstream", "start_stack"]


@dataclass
class Stack:
    """Where the service is and what backs it (a later ``--instances N`` adds a proxy in front
    of N services here: ``host`` is then the proxy's, ``service_pid`` a list)."""

    host: str
    upstream: str
    cache_backend: str
    upstream_kind: str  # simulator | env | host (configured on a running service)
    cache_backend_kind: str  # redis | memory | host
    cache_namespace: str | None = None  # the started service's Redis key prefix
    service_pid: int | None = None  # the gunicorn master, when the service was started here
    cache_pack: str = "as configured on that service"

    def describe(self) -> str:
        namespace = f" · cache namespace {self.cache_namespace}" if self.cache_namespace else ""
        return (f"service {self.host} · upstream {self.upstream} · "
                f"cache backend {self.cache_backend}{namespace} · cache pack {self.cache_pack}")


def check_upstream(base_url: str, api_key: str | None, timeout_s: float = 5.0) -> None:
    """Fail in seconds, with the cause, when the upstream cannot be reached at all (the service
    would otherwise wait and report only "not ready"). Any HTTP answer means it is there."""
    request = urllib.request.Request(f"{base_url.rstrip('/')}/models", headers=(
        {"Authorization": f"Bearer {api_key}"} if api_key else {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ProcessFailed(f"the upstream {base_url} refused the key (HTTP {exc.code}): "
                                "check OPENAI_API_KEY") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProcessFailed(f"the upstream {base_url} (OPENAI_BASE_URL) is unreachable: "
                            f"{reason}") from None


def _started(stack: ExitStack, proc: ManagedProcess, processes: list[ManagedProcess]) -> None:
    processes.append(proc)
    stack.callback(proc.stop)


def start_stack(config: RunConfig, stack: ExitStack, processes: list[ManagedProcess],
                namespace: str) -> Stack:
    """The service to load: ``--host`` as given, else one started here with its dependencies.

    Each started process is appended to ``processes`` at once, so even a start that fails
    half-way leaves a full list of what to check and whose log to keep. The started service
    keeps its cache under ``config.cache_namespace`` or, by default, ``namespace`` (fresh per
    run): a REDIS_URL shared by runs must not hand one run the answers another cached.
    """
    if config.host:
        configured = "as configured on that service"
        return Stack(config.host.rstrip("/"), configured, f"{configured} (not isolated per run)",
                     "host", "host")
    env = dict(os.environ)
    env.setdefault("CHAT_LOG_LEVEL", "WARNING")
    if config.upstream_url:
        check_upstream(config.upstream_url, env.get("OPENAI_API_KEY"))
        upstream, upstream_kind = f"{config.upstream_url} (OPENAI_BASE_URL)", "env"
    else:
        sim = start_simulator(config.profile, extra_args=["--log-level", "WARNING",
                                                          *config.sim_args])
        _started(stack, sim, processes)
        env["OPENAI_BASE_URL"] = f"{sim.url}/v1"
        env.pop("OPENAI_API_KEY", None)  # a key in the shell is not the simulator's business
        upstream, upstream_kind = f"simulator, profile {config.profile} ({sim.url})", "simulator"
    if config.redis_url:
        env["REDIS_URL"] = config.redis_url
        backend, kind = f"redis {config.redis_url} (REDIS_URL)", "redis"
    elif redis_server_available():
        redis = start_redis()
        _started(stack, redis, processes)
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}/0"
        backend, kind = f"redis (throwaway redis-server on port {redis.port})", "redis"
    else:
        env.pop("REDIS_URL", None)
        backend, kind = "in-memory (no REDIS_URL and no redis-server binary)", "memory"
    cache_namespace = config.cache_namespace or namespace
    if config.cache_namespace and kind == "redis":
        backend += f", reusing namespace {cache_namespace} (--cache-namespace)"
    env["CHAT_CACHE_NAMESPACE"] = cache_namespace
    if config.pack == "none":
        env.pop("CHAT_CACHE_PACK", None)
    else:
        env["CHAT_CACHE_PACK"] = config.pack
    service = start_service(env, workers=config.service_workers)
    _started(stack, service, processes)
    return Stack(service.url, upstream, backend, upstream_kind, kind,
                 cache_namespace if kind == "redis" else None, service.pid,
                 "none (English alone)" if config.pack == "none" else config.pack)
