"""``make stack`` (``python -m loadtests stack``): the topology comes up, says where each part is,
answers through NGINX, Prometheus scrapes each instance under its own label, and everything
stops when asked.
"""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from loadtests.nginx import nginx_binary
from loadtests.processes import ManagedProcess
from loadtests.runner.config import RunConfig
from loadtests.runner.topology import serve_topology
from tests.support import pid_alive, require_binary, stream_chat

pytestmark = pytest.mark.timeout(120)


def _printed(out: io.StringIO, thread: threading.Thread) -> str:
    deadline = time.monotonic() + 60
    while "Ctrl-C" not in out.getvalue():
        assert thread.is_alive() and time.monotonic() < deadline, out.getvalue()
        time.sleep(0.2)
    return out.getvalue()


def test_the_stack_serves_through_nginx_with_each_instance_scraped() -> None:
    nginx_binary() or require_binary("nginx", "nginx")
    require_binary("prometheus", "prometheus")
    require_binary("redis-server", "redis-server")
    out, stop, started = io.StringIO(), threading.Event(), list[ManagedProcess]()
    thread = threading.Thread(target=lambda: started.extend(serve_topology(
        RunConfig(instances=2, profile="fast"), stop, out)), daemon=True)
    thread.start()
    try:
        text = _printed(out, thread)
        proxy = re.search(r"proxy / chat page: (\S+)", text).group(1)  # type: ignore[union-attr]
        instances = re.findall(r"instance \d: http://(\S+)", text)
        prometheus = re.search(r"prometheus: (http\S+)", text).group(1)  # type: ignore[union-attr]
        response, events = stream_chat(proxy, {"message": "How much is the Pro plan?"})
        assert response.status_code == 200 and events[-1].event == "done"
        deadline = time.monotonic() + 20
        while True:
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
            up = {t["labels"]["instance"] for t in targets["activeTargets"]
                  if t["health"] == "up"}
            if up == set(instances) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert len(instances) == 2 and up == set(instances)
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()
    assert {p.name for p in started} >= {"service", "nginx", "redis", "prometheus"}
    assert not [p.pid for p in started if pid_alive(p.pid)]
    [scraper] = [p for p in started if p.name == "prometheus"]
    folders = {Path(arg.removeprefix("--config.file=")).parent for arg in scraper.argv
               if arg.startswith("--config.file=")}
    assert folders and not any(folder.exists() for folder in folders)  # its config and data
