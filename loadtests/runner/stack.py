"""Start the parts a load run needs and is not given: simulator, redis-server, the service.

With ``--instances N`` (N > 1) the service is N instances sharing the one Redis
(``loadtests.fleet``) with NGINX in front (``loadtests.nginx``, the deployed config): the load
goes to NGINX, the counters are read from each instance. Everything started goes on the
caller's ``ExitStack``, so it is stopped (process group and all) however the run ends —
finished, failed, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from loadtests.fleet import start_fleet
from loadtests.nginx import start_nginx
from loadtests.processes import (
    LOOPBACK,
    ManagedProcess,
    ProcessFailed,
    redis_server_available,
    start_prometheus,
    start_redis,
    start_service,
    start_simulator,
)
from loadtests.prometheus_config import write_scrape_config
from loadtests.runner.config import RunConfig
from otel.rules import RULES_PATH
from service.settings import Settings

__all__ = ["Stack", "check_upstream", "start_scraper", "start_stack"]


@dataclass
class Stack:
    """Where the service is and what backs it. Behind a proxy, ``host`` is NGINX's,
    ``instances`` the instances' own URLs (whose counters the run reads) and ``service_pid``
    ``None`` (``instance_pids`` has each gunicorn master)."""

    host: str
    upstream: str
    cache_backend: str
    upstream_kind: str  # simulator | env | host (configured on a running service)
    cache_backend_kind: str  # redis | memory | host
    cache_namespace: str | None = None  # the started service's Redis key prefix
    service_pid: int | None = None  # the gunicorn master, when the service was started here
    cache_pack: str = "as configured on that service"
    instances: tuple[str, ...] = ()  # behind a proxy: each instance's URL
    instance_pids: tuple[int, ...] = ()

    @property
    def stats_hosts(self) -> tuple[str, ...]:
        """Where the service's counters are read: each instance, else the one service."""
        return self.instances or (self.host,)

    def describe(self) -> str:
        namespace = f" · cache namespace {self.cache_namespace}" if self.cache_namespace else ""
        service = (f"NGINX {self.host} in front of {len(self.instances)} instances "
                   f"({', '.join(self.instances)})" if self.instances else self.host)
        return (f"service {service} · upstream {self.upstream} · "
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
    pack = "none (English alone)" if config.pack == "none" else config.pack
    namespace_used = cache_namespace if kind == "redis" else None
    if config.instances == 1:
        service = start_service(env, workers=config.service_workers)
        _started(stack, service, processes)
        return Stack(service.url, upstream, backend, upstream_kind, kind, namespace_used,
                     service.pid, pack)
    if kind != "redis":  # each instance would keep its own cache: not the topology to measure
        raise ProcessFailed("--instances needs Redis (REDIS_URL or a redis-server binary): "
                            "instances share their cache there")
    env["CHAT_PROXY_HOPS"] = "1"  # NGINX in front: the client's address is its X-Forwarded-For
    fleet = start_fleet(config.instances, env, workers=config.service_workers)
    processes.extend(fleet.instances)
    stack.callback(fleet.stop)
    backends = [url.removeprefix("http://") for url in fleet.urls]
    proxy = start_nginx(backends, Settings.from_env(env))
    _started(stack, proxy, processes)
    return Stack(proxy.url, upstream, backend, upstream_kind, kind, namespace_used, None, pack,
                 tuple(fleet.urls), tuple(instance.pid for instance in fleet.instances))


def start_scraper(stack_info: Stack, folder: Path, stack: ExitStack,
                  processes: list[ManagedProcess],
                  client_metrics_port: int | None = None) -> ManagedProcess:
    """Prometheus scraping every instance (and the load client's TTFT endpoint, when served)
    with the generated config and the alert rules; its config and data stay in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = [url.removeprefix("http://") for url in stack_info.stats_hosts]
    client = f"{LOOPBACK}:{client_metrics_port}" if client_metrics_port else None
    config = write_scrape_config(folder / "prometheus.yml", targets, client_metrics=client,
                                 rule_files=[RULES_PATH])
    proc = start_prometheus(config, folder / "data")
    _started(stack, proc, processes)
    return proc
