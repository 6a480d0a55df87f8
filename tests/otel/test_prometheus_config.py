"""otel/prometheus.yml: valid, loads the generated rules, scrapes what compose runs; the config
the harness generates for processes on loopback scrapes each instance under its own label."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from loadtests.prometheus_config import write_scrape_config
from otel.rules import RULES_PATH
from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
CONFIG_PATH = ROOT / "otel" / "prometheus.yml"
CONFIG = yaml.safe_load(CONFIG_PATH.read_text())
SERVICES = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def _targets() -> dict[str, list[str]]:
    """Each job's targets; a DNS name stands for every address it resolves to (replicas)."""
    return {job["job_name"]: [
        *(t for sc in job.get("static_configs", []) for t in sc["targets"]),
        *(f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]),
    ] for job in CONFIG["scrape_configs"]}


def test_rule_files_are_the_generated_rules() -> None:
    assert [(CONFIG_PATH.parent / f).resolve() for f in CONFIG["rule_files"]] == [RULES_PATH]


def test_scrapes_the_service_and_the_collector() -> None:
    targets = _targets()
    command = SERVICES["service"]["command"]
    assert targets["chatperf"] == [f"service:{command[command.index('--port') + 1]}"]
    assert {"otel-collector:8888", "otel-collector:8889"} <= {
        t for ts in targets.values() for t in ts
    }
    for job, addresses in targets.items():
        for address in addresses:
            host = address.split(":")[0]
            assert host == "localhost" or host in SERVICES, (job, address)


def test_promtool_check_config() -> None:
    promtool = require_binary("promtool", "prometheus")
    result = subprocess.run([promtool, "check", "config", str(CONFIG_PATH)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_the_generated_config_scrapes_each_instance_under_its_own_label(tmp_path: Path) -> None:
    """What `make stack` and the dashboard test start Prometheus with."""
    promtool = require_binary("promtool", "prometheus")
    instances = ["127.0.0.1:8000", "127.0.0.1:8002"]
    path = write_scrape_config(tmp_path / "prometheus.yml", instances,
                               client_metrics="127.0.0.1:9646", rule_files=[RULES_PATH])
    generated = yaml.safe_load(path.read_text())
    [service] = [job for job in generated["scrape_configs"] if job["job_name"] == "chatperf"]
    assert [(sc["targets"], sc["labels"]["instance"]) for sc in service["static_configs"]] == [
        ([address], address) for address in instances]
    result = subprocess.run([promtool, "check", "config", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
