"""docker-compose.yml and the Dockerfile: structure, references and pins (no Docker needed)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.nginx.__main__ import build_parser, proxy_options
from deploy.nginx.render import render
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_IMAGE = "chatperf-app:local"
HARNESS_IMAGE = "chatperf-harness:local"
# Services without a healthcheck, and why (the compose file says the same next to them).
NO_HEALTHCHECK = {
    "otel-collector": "distroless image: no shell to run a probe",
    "locust-worker": "serves no port",
}


def _config(path: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / path).read_text())


def _ports(service: str) -> set[str]:
    spec = SERVICES[service]
    published = [str(p).rsplit(":", 1)[-1] for p in spec.get("ports", [])]
    return {*published, *map(str, spec.get("expose", []))}


def _host_port(url: str) -> tuple[str, str]:
    host, port = re.fullmatch(r"(?:[a-z]+://)?([a-z0-9-]+):(\d+)(?:/.*)?", url).groups()
    return host, port


def test_expected_services_and_load_profile() -> None:
    assert set(SERVICES) == {"redis", "simulator", "service", "nginx", "otel-collector", "tempo",
                             "prometheus", "grafana", "locust-master", "locust-worker"}
    profiled = {name for name, spec in SERVICES.items() if spec.get("profiles")}
    assert profiled == {"locust-master", "locust-worker"}
    assert all(SERVICES[name]["profiles"] == ["load"] for name in profiled)
    for name in profiled:
        assert "loadtests/locustfile.py" in SERVICES[name]["command"]
    assert SERVICES["locust-worker"]["deploy"]["replicas"] >= 2


def test_images_are_pinned() -> None:
    for name, spec in SERVICES.items():
        image = spec["image"]
        if image in (APP_IMAGE, HARNESS_IMAGE):
            assert spec["build"]["dockerfile"] == "Dockerfile", name
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z0-9]+)?", tag), (name, image)


def test_healthchecks() -> None:
    for name, spec in SERVICES.items():
        if name in NO_HEALTHCHECK:
            assert "healthcheck" not in spec
            continue
        test = spec["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        urls = re.findall(r"https?://127\.0\.0\.1:(\d+)", " ".join(test))
        assert all(port in _ports(name) for port in urls), (name, urls)
    for name, spec in SERVICES.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            expected = ("service_started" if dependency in NO_HEALTHCHECK
                        else "service_healthy")
            assert condition == {"condition": expected}, (name, dependency)


def test_every_mounted_file_exists_in_the_repo() -> None:
    mounts = 0
    for spec in SERVICES.values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                mounts += 1
                assert (ROOT / source).exists(), source
                assert volume.endswith(":ro"), f"{volume}: configs are mounted read-only"
            else:
                assert source in COMPOSE["volumes"], source
    assert mounts >= 6


def _mounted(service: str, target: str) -> Path:
    for volume in SERVICES[service]["volumes"]:
        source, inside = volume.split(":")[:2]
        if inside == target:
            return ROOT / source
    raise AssertionError(f"{service} does not mount {target}")


def test_configs_are_the_ones_the_commands_load() -> None:
    assert _mounted("prometheus", "/etc/prometheus/prometheus.yml") == ROOT / "otel/prometheus.yml"
    assert _mounted("prometheus", "/etc/prometheus/rules") == ROOT / "otel/rules"
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    collector = SERVICES["otel-collector"]
    config = collector["command"][0].split("=", 1)[1]
    assert _mounted("otel-collector", config) == ROOT / "otel/collector.yaml"
    tempo = SERVICES["tempo"]["command"][0].split("=", 1)[1]
    assert _mounted("tempo", tempo) == ROOT / "otel/tempo.yaml"


def test_service_wiring_agrees_with_the_configs() -> None:
    service = SERVICES["service"]
    command = service["command"]
    assert command[:3] == ["python", "-m", "service"]
    assert command[command.index("--port") + 1] == "8000"
    assert command[command.index("--workers") + 1] == "2"
    env = service["environment"]
    simulator = SERVICES["simulator"]["command"]
    assert simulator[simulator.index("--profile") + 1] == "seed"
    assert env["OPENAI_BASE_URL"] == (
        f"http://simulator:{simulator[simulator.index('--port') + 1]}/v1"
    )
    assert _host_port(env["REDIS_URL"]) == ("redis", "6379")
    otlp_host, otlp_port = _host_port(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    receiver = _config("otel/collector.yaml")["receivers"]["otlp"]["protocols"]
    protocol = "http" if env["OTEL_EXPORTER_OTLP_PROTOCOL"].startswith("http") else "grpc"
    assert otlp_host == "otel-collector"
    assert receiver[protocol]["endpoint"].endswith(f":{otlp_port}")
    assert otlp_port in _ports("otel-collector")
    # Metrics are scraped, so the OTLP metrics exporter is off (no double counting).
    assert env["OTEL_METRICS_EXPORTER"] == "none"
    master = SERVICES["locust-master"]["command"]
    assert master[master.index("--host") + 1] == f"http://nginx:{_ports('nginx').pop()}"


def test_nginx_fronts_the_service_replicas_with_the_deployed_template() -> None:
    service, nginx = SERVICES["service"], SERVICES["nginx"]
    assert service["deploy"]["replicas"] == 2
    assert "ports" not in service  # only the proxy is published
    assert nginx["depends_on"] == {"service": {"condition": "service_healthy"}}
    conf = _mounted("nginx", "/etc/nginx/conf.d/default.conf")
    text = conf.read_text()
    # The file is what its own recipe renders now, with the service's environment: the
    # template and the service's limits cannot drift apart from it.
    recipe = re.search(r"^#   (python -m deploy\.nginx .*)$", text, re.M)
    assert recipe, f"{conf.name} does not say how it was made"
    argv = shlex.split(recipe.group(1))[3:]
    args = build_parser().parse_args(argv)
    rendered = render(proxy_options(args, argv), Settings.from_env(service["environment"]))
    assert text == rendered, f"{conf.name} is stale: run {recipe.group(1)}"
    command = service["command"]
    assert args.backend == [f"service:{command[command.index('--port') + 1]}"]
    assert args.listen == _ports("nginx").pop()
    assert service["environment"]["CHAT_PROXY_HOPS"] == "1"  # one proxy: the real client


def test_collector_sends_traces_to_tempo_and_metrics_to_prometheus() -> None:
    collector = _config("otel/collector.yaml")
    pipelines = collector["service"]["pipelines"]
    [trace_exporter] = pipelines["traces"]["exporters"]
    host, port = _host_port(collector["exporters"][trace_exporter]["endpoint"])
    tempo_receiver = _config("otel/tempo.yaml")["distributor"]["receivers"]["otlp"]["protocols"]
    assert host == "tempo" and tempo_receiver["grpc"]["endpoint"].endswith(f":{port}")
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    exported_port = collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    scraped = {t for job in _config("otel/prometheus.yml")["scrape_configs"]
               for sc in job.get("static_configs", []) for t in sc["targets"]}
    assert f"otel-collector:{exported_port}" in scraped


@pytest.mark.parametrize(("service", "image", "target"), [
    ("service", APP_IMAGE, "service"), ("simulator", APP_IMAGE, "service"),
    ("locust-master", HARNESS_IMAGE, "harness"), ("locust-worker", HARNESS_IMAGE, "harness")])
def test_app_services_use_the_app_image(service: str, image: str, target: str) -> None:
    """The service's image has no harness; only the Locust containers get its libraries."""
    assert SERVICES[service]["image"] == image
    assert SERVICES[service]["build"]["target"] == target


def test_nothing_is_published_beyond_this_machine() -> None:
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_grafana_has_no_default_admin_password() -> None:
    environment = SERVICES["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in environment
    secret = environment["GF_SECURITY_ADMIN_PASSWORD__FILE"].rsplit("/", 1)[1]
    assert secret in SERVICES["grafana"]["secrets"]
    password_file = COMPOSE["secrets"][secret]["file"].removeprefix("./")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^up: {re.escape(password_file)}", makefile, re.M)
    assert re.search(rf"^{re.escape(password_file)}:\n\t.*secrets\.token", makefile, re.M)
    assert password_file in (ROOT / ".gitignore").read_text().split()


def test_make_clean_keeps_the_runs() -> None:
    clean = re.search(r"^clean:.*\n\t(.*)", (ROOT / "Makefile").read_text(), re.M)
    assert clean and "runs" not in clean.group(1).split()


def test_every_library_is_pinned() -> None:
    """The image and make setup install exact versions: every library pyproject.toml names
    (the service's, the extras', the dev tools') has an ``==`` pin in constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, line
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["harness"],
              *project["optional-dependencies"]["dashboards"],
              *project["optional-dependencies"]["dev"]]
    names = {re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[ ;]", spec)[0]).lower()
             for spec in wanted}
    assert names - {"chatperf"} <= set(pins), names - set(pins)


def test_no_library_replaces_another_ones_package() -> None:
    """urllib3-future (grafana-client 4+, through niquests) installs itself as ``urllib3``,
    under requests and every tool built on it; it broke schemathesis's transport."""
    pinned = {line.partition("==")[0].lower()
              for line in (ROOT / "constraints.txt").read_text().splitlines()}
    assert not pinned & {"urllib3-future", "niquests"}


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm AS service$", text, re.M)
    assert "pip install --constraint constraints.txt ." in text
    assert re.search(r"^FROM service AS harness$", text, re.M)
    assert re.search(r"^USER (?!root)", text.rsplit("FROM", 1)[1], re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv"} <= set(ignored)
