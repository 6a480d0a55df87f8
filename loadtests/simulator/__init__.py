"""A simulated OpenAI-compatible upstream, so chatperf runs and is measured with no API key.

It answers ``/v1/chat/completions`` (stream and non-stream) with deterministic prose on a
latency schedule drawn from a named profile, reports the TTFT it scheduled in ``X-Sim-TTFT-Ms``,
injects faults on demand, and counts in ``/sim/stats`` what happened to each request.
"""

from __future__ import annotations

from .app import build_app
from .config import SimulatorConfig
from .profiles import DEFAULT_MODELS, PROFILES, Profile, model_tier
from .server import make_server, serve

__all__ = [
    "DEFAULT_MODELS",
    "PROFILES",
    "Profile",
    "SimulatorConfig",
    "build_app",
    "make_server",
    "model_tier",
    "serve",
]
