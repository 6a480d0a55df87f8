"""``python -m loadtests gate RUN_DIR``: judge a finished run for CI.

Exit 0 when every target in ``targets.yaml`` is met and nothing regressed against the baseline,
1 when a target is missed or a figure regressed beyond its noise margin, 2 when the run folder
is missing or unreadable (a harness error, never a pass). Writes ``gate.md`` (for a CI job
summary) and ``junit.xml`` into the run folder, from the judged summary alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtests.report import render_junit, render_markdown, verdict_table
from loadtests.summary import OPTIONAL_TARGETS, TARGETS, evaluate, load_targets, overall_verdict

__all__ = ["MARGINS", "GateError", "compare_baseline", "judge", "main"]

# metric → (better direction, relative margin, absolute margin). A figure regresses when it is
# worse than the baseline by more than both margins together: run-to-run noise of a one-minute
# run is a few per cent of a percentile plus a small floor, more for tail and rare-event figures.
MARGINS: Mapping[str, tuple[str, float, float]] = {
    "ttft_p95_s": ("lower", 0.20, 0.05),
    "full_response_avg_s": ("lower", 0.10, 0.25),
    "cache_hit_rate": ("higher", 0.10, 0.03),
    "error_rate": ("lower", 0.50, 0.005),
    "goodput": ("higher", 0.10, 0.03),
    "service_overhead_ms": ("lower", 0.50, 10.0),
}
_REQUIRED = ("requests", "run", *(field for key, (field, *_) in TARGETS.items()
                                   if key not in OPTIONAL_TARGETS))


class GateError(RuntimeError):
    """Raised when the run folder or the baseline cannot be read: a harness error (exit 2)."""


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise GateError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise GateError(f"{what} unreadable: {path}: {exc}") from None
    if not isinstance(data, dict):
        raise GateError(f"{what} is not a JSON object: {path}")
    return data


def load_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json`` of a run folder, checked for the fields the gate needs."""
    summary = _load_json(Path(run_dir) / "summary.json", "summary")
    missing = [key for key in _REQUIRED if key not in summary]
    if missing:
        raise GateError(f"{run_dir}/summary.json lacks {', '.join(missing)}")
    if not summary["requests"]:
        raise GateError(f"{run_dir}: the run finished no requests")
    return summary


def compare_baseline(summary: Mapping[str, Any],
                     baseline: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each figure the baseline has, against its margin; ``passed`` is False on a regression."""
    results = []
    for metric, (better, relative, absolute) in MARGINS.items():
        base, measured = baseline.get(metric), summary.get(metric)
        if base is None:
            continue
        slack = abs(base) * relative + absolute
        limit = base + slack if better == "lower" else base - slack
        if measured is None:
            passed = False
        else:
            passed = measured <= limit if better == "lower" else measured >= limit
        results.append({"metric": metric, "baseline": base, "measured": measured,
                        "limit": round(limit, 4),
                        "limit_text": f"{'<=' if better == 'lower' else '>='} {limit:.4g}",
                        "passed": passed})
    return results


def judge(summary: Mapping[str, Any], targets: Mapping[str, float],
          baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The summary re-judged against ``targets`` (and a baseline): what the writers read."""
    judged = dict(summary)
    judged["targets"] = evaluate(summary, targets)
    judged["baseline"] = compare_baseline(summary, baseline) if baseline else []
    checks = [*judged["targets"], *judged["baseline"]]
    judged["verdict"] = overall_verdict(checks)
    return judged


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests gate", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", type=Path, help="a run folder written by python -m loadtests run")
    p.add_argument("--targets", type=Path, default=Path("targets.yaml"), help="targets file")
    p.add_argument("--baseline", type=Path, default=None,
                   help="summary.json of an accepted run to compare against")
    p.add_argument("--strict", action="store_true",
                   help="an inconclusive target (too few samples to tell) fails the gate too")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        summary = load_summary(args.run_dir)
        try:
            targets = load_targets(args.targets)
        except (OSError, ValueError) as exc:
            raise GateError(f"targets unreadable: {exc}") from None
        baseline = _load_json(args.baseline, "baseline") if args.baseline else None
        judged = judge(summary, targets, baseline)
        markdown = render_markdown(judged)
        (args.run_dir / "gate.md").write_text(markdown)
        (args.run_dir / "junit.xml").write_text(render_junit(judged))
    except GateError as exc:
        print(f"gate: harness error: {exc}", file=sys.stderr)
        return 2
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    print(verdict_table(judged))
    print(f"\ngate: {judged['verdict'].upper()} ({args.run_dir}/gate.md, junit.xml)")
    return exit_code(judged["verdict"], args.strict)


def exit_code(verdict: str, strict: bool = False) -> int:
    """0 pass, 1 fail; inconclusive is 0 (said loudly) unless ``strict``."""
    if verdict == "inconclusive":
        return 1 if strict else 0
    return 0 if verdict == "pass" else 1
