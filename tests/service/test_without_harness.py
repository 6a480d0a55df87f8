"""The service installs and runs without the load harness.

``pip install .`` brings the service's dependencies only; the harness's libraries (Locust,
psutil, Playwright) and the dashboards' (Grafana's) are extras. These tests run the real
launcher in a virtual environment that has this project's installed libraries except the
extras', and check what a user of such an install would notice: the service answers from a
folder holding only its own code; the embedded simulator, which is the harness's, is refused in
one line that says how to get it; and the harness's own commands name the extra they need
instead of failing half-way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import httpx
import pytest

from loadtests.processes import ManagedProcess, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
# Distributions the harness and dashboards extras add (top-level package names).
HARNESS_LIBRARIES = ("locust", "psutil", "playwright", "grafana_foundation_sdk",
                     "grafana_client")
_NOT_INSTALLED = (*HARNESS_LIBRARIES, "__editable__")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with this project's installed libraries except the extras' (chatperf's own code
    is not installed either, only its metadata: the code is what the working directory holds)."""
    root = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True, timeout=60)
    python = root / "venv" / "bin" / "python"
    libraries = root / "libraries"
    libraries.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(_NOT_INSTALLED):
            (libraries / entry.name).symlink_to(entry)
    site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    (site / "libraries.pth").write_text(f"{libraries}\n")
    return python


@pytest.fixture(scope="module")
def service_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the service's code and nothing of the harness, as a service-only image."""
    folder = tmp_path_factory.mktemp("service-only")
    for package in ("service", "otel"):
        (folder / package).symlink_to(ROOT / package)
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAT_", "OTEL_", "OPENAI_", "REDIS_", "PYTHON"))}
    env.update(extra)
    return env


def test_installing_the_service_does_not_install_the_harness() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = " ".join(project["dependencies"]).replace("-", "_").lower()
    assert not [lib for lib in HARNESS_LIBRARIES if lib in required]
    extras = project["optional-dependencies"]
    assert {"harness", "dashboards"} <= set(extras)


def test_the_service_answers_with_the_harness_uninstalled(
        bare_python: Path, service_only: Path, simulator: ManagedProcess) -> None:
    port = free_port()
    env = _env(OPENAI_BASE_URL=f"{simulator.url}/v1", CHAT_LOG_LEVEL="INFO")
    service = ManagedProcess("service", ["sh", "-c", f'cd "{service_only}" && exec '
                                         f'"{bare_python}" -m service --port {port}'],
                             port, env=env).start()
    try:
        wait_for_http(f"{service.url}/readyz", 60, service)
        answer = httpx.post(f"{service.url}/api/chat", json={"message": "What is Pro?"},
                            timeout=30)
        assert answer.status_code == 200 and answer.json()["answer"]
        assert httpx.get(f"{service.url}/api/openai/stats", timeout=10).json()["requests"] == 1
    finally:
        service.stop()
    assert "ModuleNotFoundError" not in service.log_tail(20_000)


def test_the_embedded_simulator_says_it_needs_the_harness(bare_python: Path,
                                                         service_only: Path) -> None:
    done = subprocess.run(
        [str(bare_python), "-m", "service", "--port", str(free_port()), "--upstream",
         "simulator"], env=_env(), cwd=service_only, text=True, capture_output=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the embedded simulator"), lines
    assert "pip install 'chatperf[harness]'" in lines[0]


@pytest.mark.parametrize(("command", "extra"), [
    (["loadtests", "run"], "harness"),
    (["dashboards", "build", "--check"], "dashboards"),
])
def test_harness_commands_name_the_extra_they_need(bare_python: Path, command: list[str],
                                                   extra: str) -> None:
    done = subprocess.run([str(bare_python), "-m", *command], env=_env(), cwd=ROOT, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'chatperf[{extra}]'" in lines[0], lines
