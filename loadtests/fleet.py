"""Several service instances sharing one Redis, as a deployment past one machine runs them.

Tests of the shared single flight and the proxy, and the flight benchmark, start the same
thing: N instances of ``python -m service`` on free loopback ports with one environment (the
upstream, ``REDIS_URL``), each a process group that can be killed on its own (SIGKILL: a machine
that dies) and started again on its port. ``Fleet`` holds them; ``start_fleet`` starts them in
parallel, since each takes a few seconds to import and fork.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from loadtests.processes import ManagedProcess, start_service

__all__ = ["Fleet", "fleet_env", "start_fleet"]


def fleet_env(upstream_url: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """The instances' environment: the caller's without its own chatperf, OpenTelemetry and
    Redis settings, the given upstream and Redis, no pre-warm (it would add upstream calls)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_"))}
    env.update({"OPENAI_BASE_URL": f"{upstream_url}/v1", "REDIS_URL": redis_url,
                "CHAT_PREWARM": "0", "CHAT_LOG_LEVEL": "WARNING"})
    env.update(overrides)
    return env


@dataclass
class Fleet:
    """Service instances started with one environment."""

    instances: list[ManagedProcess]
    env: Mapping[str, str]
    workers: int

    @property
    def urls(self) -> list[str]:
        return [instance.url for instance in self.instances]

    def kill(self, index: int) -> None:
        """SIGKILL instance ``index`` and its workers: no goodbye, as when its machine dies."""
        self.instances[index].signal(signal.SIGKILL)
        self.instances[index].stop(grace_seconds=0)

    def restart(self, index: int) -> ManagedProcess:
        """Start instance ``index`` again on its port (after a kill or a stop)."""
        old = self.instances[index]
        old.stop(grace_seconds=0, quick=True)
        self.instances[index] = start_service(self.env, port=old.port, workers=self.workers)
        return self.instances[index]

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.instances)) as pool:  # each takes a second or two
            list(pool.map(lambda instance: instance.stop(quick=True), self.instances))

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_fleet(count: int, env: Mapping[str, str], workers: int = 1) -> Fleet:
    """``count`` instances of the service with ``env``, each ready (``/healthz``) on return."""
    with ThreadPoolExecutor(count) as pool:
        starting = [pool.submit(start_service, env, None, workers) for _ in range(count)]
        instances = []
        failure: BaseException | None = None
        for future in starting:
            try:
                instances.append(future.result())
            except BaseException as exc:  # stop the ones that did start, then report
                failure = failure or exc
    if failure is not None:
        for instance in instances:
            instance.stop(quick=True)
        raise failure
    return Fleet(instances, dict(env), workers)
