"""Every dashboard query and recording rule returns data from a real Prometheus.

A real Prometheus (Debian package) scrapes two real instances of the service (one with 2
gunicorn workers, one with 1; simulator profile ``fast``) every second, from the scrape config
the harness generates (one target and ``instance`` label each), with the generated rules loaded;
after ~100 streamed chat requests spread over both, every PromQL expression in
``dashboards/json`` (template variables substituted) and every recording rule must return at
least one finite sample, no panel may show a series per instance (each sums across them), and
every template variable must have values.
A short real Locust run (the load runner, ``--client-metrics-port``) then puts the TTFT users
see into the same Prometheus, next to the service's own.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import yaml

from dashboards.build import JSON_DIR
from loadtests.processes import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    start_prometheus,
    start_service,
    start_simulator,
)
from loadtests.prometheus_config import write_scrape_config
from loadtests.runner import RunConfig, run_load
from loadtests.workload import PACK_FILE
from otel import semconv
from otel.rules import RULES_PATH
from tests.support import require_binary

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# What Grafana would put in for the template variables ("All") and its built-in intervals.
SUBSTITUTIONS = {"$instance": ".*", "$route": ".*", "$__rate_interval": "1m",
                 "$__range": "5m", "$__interval": "15s"}
QUESTIONS = [
    "What is Redis?", "How do I reset my password?", "Compare PostgreSQL and MySQL for analytics",
    "Write a Python function that reverses a list", "What are your opening hours?",
]
REQUESTS = 100
PACE_SECONDS = 0.1  # between request starts


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    return require_binary("prometheus", "prometheus")


@pytest.fixture(scope="module")
def stack(prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("prometheus")
    simulator = start_simulator("fast")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("OTEL_", "REDIS_URL", "OPENAI_", "CHAT_"))}
    # The reference product's pack: its categories' follow-ups are what pre-warm generates.
    env.update(OPENAI_BASE_URL=f"{simulator.url}/v1", OPENAI_API_KEY="sk-test",
               OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
               CHAT_CACHE_PACK=str(PACK_FILE))
    processes: list[ManagedProcess] = [simulator]
    try:
        services = []
        for workers in (2, 1):
            services.append(start_service(env, workers=workers))
            processes.append(services[-1])
        client_port = free_port()
        config = write_scrape_config(
            tmp / "prometheus.yml", [f"{LOOPBACK}:{service.port}" for service in services],
            client_metrics=f"{LOOPBACK}:{client_port}", rule_files=[RULES_PATH], interval="1s")
        prometheus = start_prometheus(config, tmp / "data")
        processes.append(prometheus)
        yield {"service": services[0].url, "services": [service.url for service in services],
               "prometheus": prometheus.url, "client_port": client_port, "runs": tmp / "runs"}
    finally:
        for process in reversed(processes):
            process.stop()


def _stream(service: str, message: str) -> str:
    with httpx.stream("POST", f"{service}/api/chat/stream", json={"message": message},
                      timeout=60) as response:
        response.raise_for_status()
        return "".join(response.iter_text())


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def _dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL with variables substituted) for every Prometheus query in the dashboards."""
    found = []
    for path in sorted(JSON_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] != "prometheus":
                    continue
                expr = target["expr"]
                for variable, value in SUBSTITUTIONS.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"unsubstituted variable in {expr}"
                found.append((f"{path.stem} / {panel['title']} / {target['refId']}", expr))
    return found


@pytest.fixture(scope="module")
def loaded(stack: dict) -> dict:
    """The stack after the load, once Prometheus has scraped it and evaluated the rules."""
    # One request first, and wait until Prometheus has scraped it, so every series exists before
    # the load; then the load paced over ~10 s, with a new question every tenth request so that
    # misses (and upstream calls) keep coming, and the 1 s scrapes see every counter grow
    # (rate() of a counter that never moved is 0, and a ratio of two such rates is NaN).
    for service in stack["services"]:
        _stream(service, QUESTIONS[0])
    deadline = time.monotonic() + 30
    while (len(_query(stack["prometheus"], "chat_requests_total")) < len(stack["services"])
           and time.monotonic() < deadline):
        time.sleep(0.2)
    messages = [
        f"{QUESTIONS[0]} (variant {i})" if i % 10 == 0 else QUESTIONS[i % len(QUESTIONS)]
        for i in range(REQUESTS - 1)
    ]

    def paced(index_message: tuple[int, str]) -> str:
        time.sleep(index_message[0] * PACE_SECONDS)
        service = stack["services"][index_message[0] % len(stack["services"])]  # as NGINX would
        body = _stream(service, index_message[1])
        if index_message[0] % 4 < 2:  # what the chat page reports for the answers it shows
            httpx.post(f"{service}/api/client/timings", timeout=10, json={
                "first_paint_ms": 40.0 + index_message[0], "last_paint_ms": 400.0,
                "cache": "miss"}).raise_for_status()
        return body

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(paced, enumerate(messages)))
    assert all("event: done" in body for body in bodies), [b[-300:] for b in bodies
                                                          if "event: done" not in b][:3]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        total = _query(stack["prometheus"], 'sum(chat_requests_total{route="stream"})')
        if total and float(total[0]["value"][1]) >= REQUESTS + 1:
            break
        time.sleep(0.5)
    # The load client's own view, from a real Locust run against the same service.
    run = run_load(RunConfig(host=stack["service"], users=4, spawn_rate=4.0, duration_s=8,
                             warmup_s=0, think_time="0.1,0.3", stop_timeout_s=5,
                             out=stack["runs"], client_metrics_port=stack["client_port"]))
    stack["run_requests"] = run.summary["requests"]
    stack["client_samples"] = sum(1 for line in (run.run_dir / "samples.jsonl").open()
                                  if json.loads(line)["ttft_ms"] is not None)
    time.sleep(3)  # a few more scrapes and rule evaluations after the last count
    return stack


def test_the_ttft_users_see_reached_prometheus(loaded: dict) -> None:
    # The endpoint went away with Locust, so its series are stale now: ask for their last value.
    last = f"last_over_time({semconv.PROM_CLIENT_TTFT}_count[5m])"
    [count] = _query(loaded["prometheus"], f"sum({last})")
    scraped = float(count["value"][1])
    # Every streamed request observed, up to those after the last scrape before Locust quit.
    assert 0 < scraped <= loaded["client_samples"]
    assert scraped >= loaded["client_samples"] * 0.5
    [job] = {s["metric"]["job"] for s in _query(loaded["prometheus"], last)}
    assert job == "chatperf-load-client"


def test_load_was_scraped(loaded: dict) -> None:
    [total] = _query(loaded["prometheus"], 'sum(chat_requests_total{route="stream"})')
    assert float(total["value"][1]) == REQUESTS + 1 + loaded["run_requests"]
    [hits] = _query(loaded["prometheus"], 'sum(chat_cache_lookups_total{result="hit"})')
    assert float(hits["value"][1]) > 0, "repeated questions must hit the cache"


@pytest.mark.parametrize(("where", "expr"), _dashboard_queries(),
                         ids=[w for w, _ in _dashboard_queries()])
def test_dashboard_query_returns_data(loaded: dict, where: str, expr: str) -> None:
    result = _query(loaded["prometheus"], expr)
    assert result and _finite(result), f"{where}: no finite sample for {expr}: {result}"
    # With $instance at "All", a panel shows the fleet: summed across instances, not a line each.
    assert not [s["metric"] for s in result if "instance" in s["metric"]], (where, result)


def test_each_instance_is_scraped_under_its_own_label(loaded: dict) -> None:
    scraped = _query(loaded["prometheus"],
                     'sum by (instance) (chat_requests_total{route="stream"})')
    assert {s["metric"]["instance"] for s in scraped} == {
        url.removeprefix("http://") for url in loaded["services"]}
    assert all(float(s["value"][1]) > 0 for s in scraped)


def _template_queries() -> list[tuple[str, str, str]]:
    queries = []
    for path in sorted(JSON_DIR.glob("*.json")):
        for variable in json.loads(path.read_text())["templating"]["list"]:
            if variable["type"] == "datasource":  # lists datasources, not label values
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert match, variable["query"]
            selector = match.group(1)
            for name, value in SUBSTITUTIONS.items():
                selector = selector.replace(name, value)
            queries.append((variable["name"], selector, match.group(2)))
    return queries


@pytest.mark.parametrize(("name", "selector", "label"), _template_queries())
def test_template_variable_has_values(loaded: dict, name: str, selector: str, label: str) -> None:
    url = f"{loaded['prometheus']}/api/v1/label/{label}/values"
    answer = httpx.get(url, params={"match[]": selector}, timeout=10).json()
    assert answer["status"] == "success" and answer["data"], (name, selector, answer)


def _recorded() -> list[str]:
    groups = yaml.safe_load(RULES_PATH.read_text())["groups"]
    return [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]


@pytest.mark.parametrize("record", _recorded())
def test_recording_rule_returns_data(loaded: dict, record: str) -> None:
    deadline = time.monotonic() + 15
    result = _query(loaded["prometheus"], record)
    while not result and time.monotonic() < deadline:
        time.sleep(0.5)
        result = _query(loaded["prometheus"], record)
    assert result and _finite(result), f"{record}: {result}"
    assert {sample["metric"]["job"] for sample in result} == {"chatperf"}


def test_no_rule_failed_to_evaluate(loaded: dict) -> None:
    answer = httpx.get(f"{loaded['prometheus']}/api/v1/rules", timeout=10).json()
    rules = [rule for group in answer["data"]["groups"] for rule in group["rules"]]
    committed = yaml.safe_load(RULES_PATH.read_text())["groups"]
    assert len(rules) == sum(len(group["rules"]) for group in committed)
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


def test_healthy_run_raises_no_alert(loaded: dict) -> None:
    # Fast upstream, repeated questions, no faults: every target is met, so no alert may even
    # be pending (conditions are checked at once; only `for` delays firing).
    alerts = _query(loaded["prometheus"], "ALERTS")
    assert alerts == [], [sample["metric"] for sample in alerts]
