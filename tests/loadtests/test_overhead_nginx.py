"""``python -m loadtests overhead --instances 1,2``: through a real NGINX in front of real
instances, beside the first instance reached directly, in the same alternating rounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loadtests.nginx import nginx_binary
from loadtests.overhead.cli import main
from tests.support import require_binary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    nginx_binary() or require_binary("nginx", "nginx")
    out = tmp_path_factory.mktemp("overhead-nginx")
    # Short answers and one burst round a side keep it to seconds.
    assert main(["--points", "4", "--arrival", "burst", "--instances", "1,2", "--duration", "1s",
                 "--rounds", "1", "--warmup", "0.3s", "--tokens", "8", "--short-tokens", "0",
                 "--out", str(out)]) == 0
    (run_dir,) = out.glob("overhead-*")
    return json.loads((run_dir / "summary.json").read_text()), (run_dir / "overhead.md").read_text()


def test_every_side_answers_and_nginx_is_measured_against_one_instance(
    summary: tuple[dict[str, Any], str]
) -> None:
    data, table = summary
    point = data["points"][0]
    assert list(point["sides"]) == ["direct", "through", "nginx x1", "nginx x2"]
    for side in point["sides"].values():
        assert side["errors"] == 0, side["error_kinds"]
        assert side["answers"] >= 4 and side["tokens_per_answer"] == 8
    for count in (1, 2):
        side = point["sides"][f"nginx x{count}"]
        assert side["instances"] == count
        # The side's CPU is NGINX's and its instances'; NGINX's own is given apart.
        cpu = side["cpu_ms_per_answer"]
        assert 0 < cpu["proxy"] < cpu["server"]
        assert side["vs_through"]["answers_per_s"] > 0
        assert point["hits"][f"nginx x{count}"]["errors"] == 0
    assert "NGINX at 4 burst streams: nginx x1 (1 instance(s)): TTFT p50" in table


def test_instances_go_with_the_proxy_comparison_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--instances", "2", "--compare", "telemetry"])
    assert "--instances" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--instances", "0"])
