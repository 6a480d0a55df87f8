"""``python -m loadtests gate RUN_DIR``: judge a finished run for CI.

Judges the run's summary against the targets and the thresholds of ``targets.yaml`` (and any
``--threshold``), and against a baseline run if given. Exit 0 when every target and threshold
is met and nothing regressed, 1 when one is missed or a figure regressed beyond its noise
margin, 2 when the run folder is missing, incomplete or unreadable (a harness error, never a
pass). ``RUN_DIR`` may also be the parent of run folders (``runs``): the newest complete one is
judged, and any newer incomplete one (an interrupted run, without ``summary.json``) is named and
skipped. Writes ``gate.md`` (for a CI job summary) and ``junit.xml`` into the run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from loadtests.baseline import MARGINS, compare_baseline, settings_differ
from loadtests.cli import HelpFormatter, add_strict, exit_codes_epilog
from loadtests.report import render_junit, render_markdown, verdict_table
from loadtests.thresholds import Threshold, ThresholdError, evaluate_thresholds, parse_cli
from loadtests.verdict import (
    OPTIONAL_TARGETS,
    TARGETS,
    aborted_checks,
    evaluate,
    load_targets,
    load_thresholds,
    overall_verdict,
)

__all__ = ["MARGINS", "GateError", "build_parser", "compare_baseline", "find_run", "judge", "main"]

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


def find_run(path: Path, out: TextIO | None = None) -> Path:
    """The run folder to judge: ``path`` itself, or the newest complete run folder under it.

    A run folder without ``summary.json`` was interrupted (Ctrl-C) or failed: judging it would
    be judging nothing, so it is named and skipped, or — given on its own — a harness error.
    """
    path = Path(path)
    if (path / "summary.json").exists():
        return path
    if not path.is_dir():
        raise GateError(f"no run folder at {path}")
    if (path / "logs").is_dir():
        raise GateError(f"{path} is an incomplete run folder (no summary.json: the run was "
                        "interrupted or failed); nothing to judge")
    folders = sorted((p for p in path.iterdir() if (p / "logs").is_dir()),
                     key=lambda p: p.name, reverse=True)
    for folder in folders:
        if (folder / "summary.json").exists():
            return folder
        (out or sys.stderr).write(
            f"gate: skipping {folder}: incomplete (no summary.json; interrupted?)\n")
    raise GateError(f"no complete run folder under {path}")


def load_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json`` of a run folder, checked for the fields the gate needs."""
    summary = _load_json(Path(run_dir) / "summary.json", "summary")
    missing = [key for key in _REQUIRED if key not in summary]
    if missing:
        raise GateError(f"{run_dir}/summary.json lacks {', '.join(missing)}")
    if not summary["requests"]:
        raise GateError(f"{run_dir}: the run finished no requests")
    return summary


def judge(summary: Mapping[str, Any], targets: Mapping[str, float],
          baseline: Mapping[str, Any] | None = None,
          thresholds: Sequence[Threshold] = ()) -> dict[str, Any]:
    """The summary re-judged against ``targets``, ``thresholds`` (and a baseline): what the
    writers read."""
    judged = dict(summary)
    judged["targets"] = evaluate(summary, targets)
    judged["thresholds"] = evaluate_thresholds(summary, thresholds)
    judged["baseline"] = compare_baseline(summary, baseline) if baseline else []
    judged["baseline_settings_differ"] = settings_differ(summary, baseline) if baseline else []
    checks = [*judged["targets"], *judged["thresholds"], *judged["baseline"],
              *aborted_checks(summary["run"])]
    judged["verdict"] = overall_verdict(checks)
    return judged


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m loadtests gate", description=__doc__,
                                formatter_class=HelpFormatter,
                                epilog=exit_codes_epilog(interruptible=False))
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                   help="a run folder written by python -m loadtests run, or their parent "
                        "(runs): the newest complete one")
    p.add_argument("--targets", type=Path, default=Path("targets.yaml"),
                   help="targets file (its thresholds: section too)")
    p.add_argument("--threshold", action="append", default=[], dest="thresholds",
                   metavar="FIGURE<VALUE",
                   help="extra k6-style threshold on any figure of summary.json, repeatable, "
                        "e.g. 'ttft_p99_s<1.5' or 'error_rate<=0.005'")
    p.add_argument("--baseline", type=Path, default=None, metavar="RUN_DIR",
                   help="an accepted run folder (or its summary.json) to compare against")
    add_strict(p, os.environ)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_dir = find_run(args.run_dir)
        summary = load_summary(run_dir)
        try:
            targets = load_targets(args.targets)
            thresholds = [*load_thresholds(args.targets), *parse_cli(args.thresholds)]
        except ThresholdError as exc:
            raise GateError(str(exc)) from None
        except (OSError, ValueError) as exc:
            raise GateError(f"targets unreadable: {exc}") from None
        baseline = None
        if args.baseline:
            base = args.baseline
            baseline = _load_json(base / "summary.json" if base.is_dir() else base, "baseline")
        try:
            judged = judge(summary, targets, baseline, thresholds)
        except ThresholdError as exc:
            raise GateError(str(exc)) from None
        markdown = render_markdown(judged)
        (run_dir / "gate.md").write_text(markdown)
        (run_dir / "junit.xml").write_text(render_junit(judged))
    except GateError as exc:
        print(f"gate: harness error: {exc}", file=sys.stderr)
        return 2
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    print(verdict_table(judged))
    print(f"\ngate: {judged['verdict'].upper()} ({run_dir}/gate.md, junit.xml)")
    return exit_code(judged["verdict"], args.strict)


def exit_code(verdict: str, strict: bool = False) -> int:
    """0 pass, 1 fail; inconclusive is 0 (said loudly) unless ``strict``."""
    if verdict == "inconclusive":
        return 1 if strict else 0
    return 0 if verdict == "pass" else 1
