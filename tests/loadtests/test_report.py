"""``report.html`` shows what a performance engineer looks for, from the summary alone."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from loadtests.report import render_html
from loadtests.report.charts import nice_ticks
from loadtests.summary import build_summary
from tests.loadtests.conftest import TARGETS, run_meta, sample


def _summary(ttft_ms: float = 400.0, hits: int = 30) -> dict:
    warm = [sample(started_epoch_s=985.0 + i, total_ms=500.0) for i in range(10)]
    measured = ([sample(cache="hit", tier="exact", ttft_ms=4.0, total_ms=60.0, model_tier="cache",
                        started_epoch_s=1000.0 + i) for i in range(hits)]
                + [sample(ttft_ms=ttft_ms + i, started_epoch_s=1000.0 + i % 50,
                          model_tier="fast" if i % 3 else "smart") for i in range(70)]
                + [sample(ok=False, error="stream ended without a done event",
                          started_epoch_s=1010.0)])
    meta = run_meta(warmup_s=15, warmup_started_epoch_s=985.0, measured_until_epoch_s=1060.0,
                    options={"users": "4", "mix": "chat"})
    return build_summary(measured, TARGETS, meta, warmup_samples=warm)


class _Page(HTMLParser):
    """Collects the page's tables (as rows of cell texts), hover titles, links and classes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.titles: list[str] = []
        self.links: list[str] = []
        self.classes: list[str] = []
        self._cell: list[str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.classes += (attributes.get("class") or "").split()
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "title":
            self._in_title = True
        elif tag == "a":
            self.links.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title and data.strip():
            self.titles.append(data.strip())


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_percentile_tables_split_hits_misses_and_tiers_with_intervals() -> None:
    page = _page(render_html(_summary()))
    headers = [row for row in page.rows if row[:2] == ["requests", "n"]]
    assert len(headers) == 4  # TTFT, time per output token, full response, tokens/s
    assert headers[0][2:] == ["p50", "p90", "p95", "p99", "mean"]
    groups = [row[0] for row in page.rows if row and row[0].startswith(("all", "cache", "tier"))]
    assert {"all", "cache hit", "cache miss", "tier fast", "tier smart"} <= set(groups)
    hit_row = next(row for row in page.rows if row[:1] == ["cache hit"])
    assert hit_row[1] == "30"
    assert hit_row[2] == "4.0 ms4.0 ms to 4.0 ms", hit_row[2]  # p50, then its bounds


def test_charts_have_hover_values_targets_and_a_shaded_warm_up() -> None:
    html = render_html(_summary())
    page = _page(html)
    assert any(t.startswith("cache hit: 30 between") for t in page.titles)
    assert any(re.fullmatch(r"p95 at \d+ s: 0\.\d\d s", t) for t in page.titles)
    assert "warm-up (not counted)" in page.titles
    assert "p95 target 1 s" in html and "target 6.21 s" in html and "target 28 %" in html
    assert html.count("<svg") >= 7


def test_ticks_are_round_and_counts_get_whole_numbers() -> None:
    assert nice_ticks(0, 1.15) == [0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert nice_ticks(0, 1.1, integer=True) == [0, 1, 2]
    errors_axis = nice_ticks(0, 3.3, integer=True)
    assert all(float(t).is_integer() for t in errors_axis) and len(set(errors_axis)) == len(
        errors_axis)


def test_baseline_deltas_are_coloured_by_the_gates_margins() -> None:
    baseline = _summary()
    slower = _summary(ttft_ms=900.0, hits=30)
    page = _page(render_html(slower, baseline))
    rows = {row[0]: row for row in page.rows if len(row) == 5 and row[0].startswith("TTFT p")}
    assert rows["TTFT p95"][4] == "regressed beyond the gate's margin"
    assert rows["TTFT p95"][3].startswith("+")
    assert rows["TTFT p50"][4] == "worse (not judged by the gate)"  # no margin in the gate
    fewer_hits = _page(render_html(_summary(hits=10), baseline))
    *_target_row, hit_row = [row for row in fewer_hits.rows if row[:1] == ["cache hit rate"]]
    assert hit_row[3].startswith("\u2212") and " points " in hit_row[3]  # a share's change
    assert hit_row[4] == "regressed beyond the gate's margin"
    assert "worse" in page.classes
    same = _page(render_html(baseline, baseline))
    assert "worse" not in same.classes and "same" in same.classes


def test_links_and_settings_are_readable() -> None:
    summary = _summary()
    page = _page(render_html(summary, present=["summary.json", "samples.jsonl", "logs"]))
    assert {"summary.json", "samples.jsonl", "logs/", "gate.md"} <= set(page.links)
    assert "locust.html" not in page.links  # not in this run folder
    settings = {row[0]: row[1] for row in page.rows if len(row) == 2}
    assert settings["started"] == "1970-01-01 00:16:40 UTC"
    assert settings["option users"] == "4"
    assert not any("{" in value for value in settings.values())


def test_report_is_one_offline_file() -> None:
    html = render_html(_summary())
    assert not re.search(r'(src|href)="https?://', html)
    assert "<script src" not in html and "<link" not in html
