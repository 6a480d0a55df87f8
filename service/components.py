"""The long-lived parts of one service process, built once by the app factory.

Routes reach them through ``components()`` instead of module globals, so each app (and each
test) has its own cache, upstream client, pipeline and telemetry.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from otel.setup import Telemetry
from service.admission import Admission
from service.cache import ChatCache, PrewarmScheduler
from service.llm.client import UpstreamClient
from service.pipeline import ChatPipeline
from service.settings import Settings
from service.single_flight import SingleFlight

__all__ = ["Components", "components"]


@dataclass
class Components:
    """Everything a request may need, for one app."""

    settings: Settings
    telemetry: Telemetry
    upstream: UpstreamClient
    pipeline: ChatPipeline
    cache: ChatCache | None
    prewarm: PrewarmScheduler | None
    admission: Admission
    flights: SingleFlight

    def close(self) -> None:
        if self.prewarm is not None:
            self.prewarm.shutdown()
        self.flights.close()
        if self.cache is not None:
            self.cache.close()
        self.upstream.close()
        self.telemetry.shutdown()


def components() -> Components:
    """The current app's components."""
    return current_app.extensions["chatperf"]
