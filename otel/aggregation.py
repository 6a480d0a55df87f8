"""Metrics for the whole service, not one gunicorn worker.

Each worker renders its own OpenTelemetry metrics (cumulative) in Prometheus text and writes
them, atomically, to ``<metrics_dir>/worker-<pid>.prom`` about once a second and whenever it is
asked for figures. ``/metrics`` and the stats routes, on whichever worker serves them, merge all
files: samples with the same name and labels are summed. Counters and histograms stay monotonic
because a worker's last snapshot stays on disk after it exits, and a restarted worker starts a
new file from zero. This is the approach prometheus_client's multiprocess mode takes, applied to
the OTel exporter's output; it needs no extra port per worker and no collector.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["SnapshotDirectory", "merge_expositions"]

_SNAPSHOT_INTERVAL_SECONDS = 1.0


def merge_expositions(texts: Iterable[str]) -> list[Metric]:
    """Sum samples with equal name and labels across Prometheus text expositions."""
    families: dict[str, Metric] = {}
    sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type, family.unit)
            )
            bucket = sums.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                bucket[key] = bucket.get(key, 0.0) + sample.value
    result = []
    for name, family in families.items():
        family.samples = [
            Sample(sample_name, dict(labels), value)
            for (sample_name, labels), value in sums[name].items()
        ]
        result.append(family)
    return result


class _MergedCollector:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


class SnapshotDirectory:
    """One worker's view of the shared snapshot folder: write its own file, merge everyone's."""

    def __init__(self, directory: str | Path, registry: CollectorRegistry) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._registry = registry
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    @property
    def own_path(self) -> Path:
        return self.directory / f"worker-{os.getpid()}.prom"

    def write_own(self) -> None:
        """Render this process's metrics and replace its snapshot file atomically."""
        text = generate_latest(self._registry)
        with self._lock:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".prom")
            with os.fdopen(fd, "wb") as handle:
                handle.write(text)
            os.replace(tmp, self.own_path)

    def merged(self) -> list[Metric]:
        """All workers' figures, this process's freshly written first."""
        self.write_own()
        texts = []
        for path in sorted(self.directory.glob("worker-*.prom")):
            with contextlib.suppress(FileNotFoundError):
                texts.append(path.read_text())
        return merge_expositions(texts)

    def exposition(self) -> bytes:
        """Merged figures in Prometheus text format, for ``/metrics``."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_MergedCollector(self.merged()))
        return generate_latest(registry)

    def start(self) -> None:
        """Write this worker's snapshot in the background about once a second."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="metrics-snapshot", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(_SNAPSHOT_INTERVAL_SECONDS):
            with contextlib.suppress(OSError):
                self.write_own()

    def stop(self) -> None:
        """Write the final snapshot (it stays, so totals remain monotonic) and stop the loop."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.write_own()
