"""The scrape config of a Prometheus that the harness or a test starts beside the service.

Behind a proxy, ``/metrics`` answers for whichever instance NGINX picks, so Prometheus scrapes
every instance directly: one target each, labelled ``instance`` with the instance's
``host:port`` — the same name the load report gives its per-instance figures, and what the
dashboards' ``$instance`` variable lists. Compose does the same with Docker's DNS
(``otel/prometheus.yml``); this is the generated form for processes on loopback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["SERVICE_JOB", "scrape_config", "write_scrape_config"]

SERVICE_JOB = "chatperf"  # the job the recording rules and the dashboards select
CLIENT_JOB = "chatperf-load-client"


def scrape_config(instances: Sequence[str], *, client_metrics: str | None = None,
                  rule_files: Sequence[Path] = (), interval: str = "5s") -> dict[str, Any]:
    """A Prometheus config scraping each of ``instances`` (``host:port``) as its own target.

    ``client_metrics``: the load client's TTFT endpoint (``host:port``), scraped as its own
    job; ``rule_files``: rules to evaluate (the generated ``otel/rules``).
    """
    if not instances:
        raise ValueError("at least one instance to scrape")
    jobs: list[dict[str, Any]] = [{
        "job_name": SERVICE_JOB, "metrics_path": "/metrics",
        "static_configs": [{"targets": [address], "labels": {"instance": address}}
                           for address in instances],
    }]
    if client_metrics:
        jobs.append({"job_name": CLIENT_JOB, "static_configs": [{"targets": [client_metrics]}]})
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(path) for path in rule_files], "scrape_configs": jobs}


def write_scrape_config(path: Path, instances: Sequence[str], **options: Any) -> Path:
    """``scrape_config`` written as YAML to ``path`` (for ``prometheus --config.file``)."""
    path.write_text(yaml.safe_dump(scrape_config(instances, **options), sort_keys=False))
    return path
