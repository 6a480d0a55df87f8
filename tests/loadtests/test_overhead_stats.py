"""The overhead benchmark's statistics and sweep syntax, as the summary and the CLI use them."""

from __future__ import annotations

import pytest

from loadtests.confidence import percentile
from loadtests.overhead.client import Endpoint
from loadtests.overhead.config import FIXED, Point, parse_arrivals, parse_points
from loadtests.overhead.stats import per_answer_ms


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([5.0], 0.5, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),  # even count: the mean of the middle two
    ([4.0, 1.0, 3.0, 2.0], 0, 1.0),  # order does not matter
    ([1.0, 2.0, 3.0, 4.0], 1, 4.0),
    (list(map(float, range(1, 101))), 0.99, 99.01),  # rank 98.01 between 99 and 100
])
def test_percentile_interpolates_between_order_statistics(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_bad_q_is_refused() -> None:
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError, match="0-1"):
        percentile([1.0], 99)


def test_cpu_per_answer_in_milliseconds_and_none_without_answers() -> None:
    assert per_answer_ms(0.5, 20) == pytest.approx(25.0)
    assert per_answer_ms(0.5, 0) is None


def test_points_parse_counts_and_idle_suffix() -> None:
    assert parse_points("1, 16,64,1000idle") == (
        Point(1), Point(16), Point(64), Point(1000, idle=True))
    assert Point(2000, idle=True).name == "2000 idle"
    for bad in ("", "0", "fast", "-3", "12x"):
        with pytest.raises(ValueError):
            parse_points(bad)


def test_every_point_is_measured_once_per_arrival_and_names_round_trip() -> None:
    points = parse_points("16,1000idle", parse_arrivals("spread,burst"))
    assert [p.name for p in points] == ["16", "16 burst", "1000 idle", "1000 idle burst"]
    # A summary's point name parses back to the same point (the gate re-reads its baseline's).
    assert parse_points(",".join(p.name for p in points)) == points
    assert parse_points("64burst") == (Point(64, burst=True),)
    for bad in ("now", "spread,sudden", ""):
        with pytest.raises(ValueError, match="--arrival"):
            parse_arrivals(bad)
    with pytest.raises(ValueError):
        parse_points("16 fast")


def test_endpoint_from_a_base_url_with_or_without_v1() -> None:
    assert Endpoint.from_url("http://127.0.0.1:4000") == Endpoint(
        "127.0.0.1", 4000, "/v1/chat/completions")
    assert Endpoint.from_url("http://127.0.0.1:4000/v1/").path == "/v1/chat/completions"
    with pytest.raises(ValueError, match="http://"):
        Endpoint.from_url("https://api.example.com")


def test_fixed_upstream_answer_time_is_first_token_plus_the_gaps() -> None:
    assert FIXED.answer_s == pytest.approx(0.05 + 63 * 0.02)
