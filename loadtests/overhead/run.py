"""One overhead run from start to finish: stacks up, points measured, run folder written.

The points are grouped by upstream profile (the fixed one, then the idle one) and each group gets
a fresh stack, so a point never inherits another profile's open connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from loadtests.machine import commit, machine

from .bench import Prompts, measure_point
from .config import OverheadConfig
from .report import render_html, render_markdown
from .stack import SPAN_EXPORT_DELAY_MS, raise_fd_limit, running_stack
from .summary import derive_point

__all__ = ["new_run_dir", "run_overhead", "write_run"]


def new_run_dir(out: Path) -> Path:
    """A fresh ``runs/overhead-<UTC time>`` folder (suffixed when one exists already)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir, suffix = out / f"overhead-{stamp}", 1
    while run_dir.exists():
        run_dir, suffix = out / f"overhead-{stamp}-{suffix}", suffix + 1
    run_dir.mkdir(parents=True)
    return run_dir


async def _measure(config: OverheadConfig, out: TextIO) -> tuple[list[dict[str, Any]],
                                                                 dict[str, int]]:
    prompts = Prompts(config.model)
    points: list[dict[str, Any]] = []
    spans: dict[str, int] = {}
    for upstream, group in ((config.fixed, [p for p in config.points if not p.idle]),
                            (config.idle, [p for p in config.points if p.idle])):
        if not group:
            continue
        with running_stack(config, upstream) as stack:
            out.write(f"overhead: upstream {upstream.profile} ({upstream.ttft_ms} ms first token, "
                      f"{upstream.itl_ms:g} ms a token, {upstream.tokens} tokens); sides "
                      f"{', '.join(s.name for s in stack.sides)}\n")
            if stack.settle_s:
                out.write(f"overhead: CPU read {stack.settle_s:g} s after each round's last "
                          f"answer (spans exported every {SPAN_EXPORT_DELAY_MS} ms)\n")
            for point in group:
                points.append(derive_point(
                    await measure_point(stack, point, config, prompts, out), config))
        spans.update(stack.spans_exported)
    order = {p.name: i for i, p in enumerate(config.points)}
    return sorted(points, key=lambda p: order[p["name"]]), spans


def run_overhead(config: OverheadConfig, out: TextIO = sys.stderr) -> dict[str, Any]:
    """Measure every point of ``config``; the summary (not yet written anywhere)."""
    fd_limit = raise_fd_limit()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    # Other work on the machine moves every figure; the load before and after says how much.
    box = machine()
    points, spans = asyncio.run(_measure(config, out))
    summary: dict[str, Any] = {
        "kind": "overhead",
        "started": started,
        "commit": (commit() or {}).get("sha"),
        "machine": {**box, "load_average_after": [round(v, 2) for v in os.getloadavg()],
                    "open_files_limit": fd_limit},
        "config": config.to_dict(),
        "points": points,
    }
    if spans:
        summary["spans_exported"] = spans
    return summary


def write_run(summary: dict[str, Any], run_dir: Path) -> None:
    """``summary.json``, ``overhead.md`` and ``overhead.html`` into ``run_dir``."""
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (run_dir / "overhead.md").write_text(render_markdown(summary) + "\n")
    (run_dir / "overhead.html").write_text(render_html(summary))
