"""A throwaway Redis Cluster on loopback, made of Debian's ``redis-server`` in cluster mode.

Tests of the cache, the rate limits and the shared single flight on a cluster (and, later, load
runs) need the real thing: masters that own hash slots, replicas that take over when a master
dies, and clients that follow ``MOVED`` replies. ``start_redis_cluster`` starts the nodes on free
ports, joins them with ``redis-cli --cluster create`` and waits until every slot is served; the
returned ``RedisClusterProcesses`` can kill a master and say when a replica has taken its slots.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from loadtests.processes import LOOPBACK, ManagedProcess, ProcessFailed

__all__ = ["RedisClusterProcesses", "start_redis_cluster"]


@dataclass
class RedisClusterProcesses:
    """The nodes of one cluster; ``url`` is what ``REDIS_URL`` takes to reach it."""

    nodes: list[ManagedProcess]
    workdir: Path
    node_timeout_ms: int
    _killed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """``redis+cluster://`` with every node as a seed, as production URLs should list a few."""
        return "redis+cluster://" + ",".join(f"{LOOPBACK}:{node.port}" for node in self.nodes)

    def _node_client(self, port: int) -> redis.Redis:
        return redis.Redis(LOOPBACK, port, socket_timeout=2, decode_responses=True)

    def _live_ports(self) -> list[int]:
        return [node.port for node in self.nodes if node.port not in self._killed and node.alive()]

    def slot_owner(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot now, as a live node sees it."""
        for port in self._live_ports():
            with contextlib.suppress(redis.RedisError), self._node_client(port) as client:
                slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return int(master[1])
        raise ProcessFailed(f"no live node knows who serves {key!r}")

    def kill(self, port: int) -> None:
        """SIGKILL one node: no goodbye to the cluster, as when a machine dies."""
        for node in self.nodes:
            if node.port == port:
                node.stop(grace_seconds=0)
                self._killed.add(port)
                return
        raise ValueError(f"no node on port {port}")

    def wait_healthy(self, timeout_seconds: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok``, every slot has a live master and
        every replica of a live master has synced."""
        deadline = time.monotonic() + timeout_seconds
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                if self._healthy():
                    return
                last = "not every slot has a live master yet"
            except redis.RedisError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ProcessFailed(f"redis cluster not healthy after {timeout_seconds}s: {last}")

    def _healthy(self) -> bool:
        live = self._live_ports()
        for port in live:
            with self._node_client(port) as client:
                info = client.execute_command("CLUSTER", "INFO")
                if "cluster_state:ok" not in str(info):
                    return False
                # A replica that never synced cannot take over: wait until each one has.
                replication = client.info("replication")
                if replication.get("role") == "slave" and (
                        replication.get("master_link_status") != "up"
                        and replication.get("master_port") in live):
                    return False
                covered = sum(end - start + 1
                              for start, end, master, *_ in client.execute_command(
                                  "CLUSTER", "SLOTS")
                              if int(master[1]) in live)
                if covered != 16384:
                    return False
        return bool(live)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(grace_seconds=2)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisClusterProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _distinct_free_ports(count: int) -> list[int]:
    """``count`` loopback ports, free now and all different (asked for while all are held:
    one at a time, the same port can come back twice before any node has bound it)."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_for_pong(node: ManagedProcess, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not node.alive():
            raise ProcessFailed(f"{node.name} exited early:\n{node.log_tail()}")
        with contextlib.suppress(redis.RedisError), redis.Redis(
                LOOPBACK, node.port, socket_timeout=0.5) as client:
            if client.ping():
                return
        time.sleep(0.05)
    raise ProcessFailed(f"{node.name} did not answer PING:\n{node.log_tail()}")


def start_redis_cluster(masters: int = 3, replicas_per_master: int = 1,
                        node_timeout_ms: int = 1000) -> RedisClusterProcesses:
    """Start ``masters * (1 + replicas_per_master)`` nodes and join them into one cluster.

    ``cluster-require-full-coverage no``: while one master's slots wait for a replica, the other
    masters keep serving theirs (the flights and rate limits that live there go on). The short
    node time-out makes a failover take about two seconds, as tests want; production keeps
    Redis's default (15 s) or what its network needs.
    """
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise ProcessFailed("redis-server and redis-cli are needed (Debian package redis-server)")
    workdir = Path(tempfile.mkdtemp(prefix="chatperf-redis-cluster-"))
    nodes: list[ManagedProcess] = []
    count = masters * (1 + replicas_per_master)
    ports = _distinct_free_ports(2 * count)  # a client port and a cluster-bus port each
    try:
        for port, bus_port in zip(ports[:count], ports[count:], strict=True):
            node_dir = workdir / str(port)
            node_dir.mkdir()
            argv = [server, "--port", str(port), "--bind", LOOPBACK, "--save", "",
                    "--appendonly", "no", "--dir", str(node_dir), "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf", "--cluster-port", str(bus_port),
                    "--cluster-node-timeout", str(node_timeout_ms),
                    "--cluster-require-full-coverage", "no", "--repl-diskless-sync-delay", "0"]
            nodes.append(ManagedProcess(f"redis-cluster-{port}", argv, port).start())
        for node in nodes:
            _wait_for_pong(node)
        create = subprocess.run(
            [cli, "--cluster", "create", *(f"{LOOPBACK}:{node.port}" for node in nodes),
             "--cluster-replicas", str(replicas_per_master), "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if create.returncode != 0:
            raise ProcessFailed(f"redis-cli --cluster create failed:\n{create.stdout}"
                                f"{create.stderr}")
        cluster = RedisClusterProcesses(nodes, workdir, node_timeout_ms)
        cluster.wait_healthy()
        return cluster
    except BaseException:
        for node in nodes:
            node.stop(grace_seconds=1)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
