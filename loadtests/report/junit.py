"""``junit.xml``: one test case per target and per baseline comparison, for CI test reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

from loadtests.report.table import format_value

__all__ = ["render_junit"]


def render_junit(summary: Mapping[str, Any]) -> str:
    """A ``testsuite`` named chatperf.load; a missed target is a ``failure`` with its reason."""
    # An inconclusive target is not a failure; its message says the run was too small.
    cases = [(f"target.{t['target']}", t["result"] != "fail",
              f"{t['label']}: measured {format_value(t['measured'], t['unit'])}, "
              f"needs {t['op']} {format_value(t['threshold'], t['unit'])} ({t['result']})")
             for t in summary["targets"]]
    cases += [(f"threshold.{th['threshold']}", th["passed"],
               f"{th['metric']}: measured {th['measured']}, needs {th['op']} {th['value']:g}")
              for th in summary.get("thresholds", [])]
    cases += [(f"baseline.{b['metric']}", b["passed"],
               f"{b['metric']}: {b['measured']} vs baseline {b['baseline']} "
               f"(allowed {b['limit_text']})")
              for b in summary.get("baseline", [])]
    suite = ET.Element("testsuite", name="chatperf.load", tests=str(len(cases)),
                       failures=str(sum(not passed for _, passed, _ in cases)), errors="0")
    for name, passed, message in cases:
        case = ET.SubElement(suite, "testcase", classname="chatperf.load", name=name)
        if passed:
            ET.SubElement(case, "system-out").text = message
        else:
            ET.SubElement(case, "failure", message=message).text = message
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
