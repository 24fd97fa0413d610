from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from callcenter.store import Evaluation
from callcenter.web import charts

MONDAY = datetime(2026, 11, 2, 9, tzinfo=UTC)


def evaluation(n: int, at: datetime, scores: dict[str, int], *, deleted: bool = False) -> Evaluation:
    return Evaluation(
        id=n,
        call_id=n,
        call_uniqueid=f"main-{n}.1",
        direction="client_to_agent",
        agent_id="1001",
        client_id=1,
        scores=scores,
        created_at=at,
        updated_at=at,
        deleted_at=at if deleted else None,
    )


def test_weekly_means_group_live_ratings_by_week() -> None:
    found = charts.weekly_means(
        [
            evaluation(1, MONDAY, {"a": 5, "b": 1}),
            evaluation(2, MONDAY + timedelta(days=6), {"a": 3, "b": 3}),
            evaluation(3, MONDAY + timedelta(days=7), {"a": 1}),
            evaluation(4, MONDAY + timedelta(days=8), {"a": 5}, deleted=True),
        ],
        ["a", "b"],
    )
    assert found == [
        (MONDAY.replace(hour=0), {"a": 4.0, "b": 2.0}),
        (MONDAY.replace(hour=0) + timedelta(days=7), {"a": 1.0}),
    ]


def test_score_counts_count_each_score_per_category() -> None:
    counts = charts.score_counts(
        [
            evaluation(1, MONDAY, {"a": 5, "b": 1}),
            evaluation(2, MONDAY, {"a": 5}),
            evaluation(3, MONDAY, {"a": 2}, deleted=True),
        ],
        ["a", "b"],
    )
    assert counts == {"a": [0, 0, 0, 0, 2], "b": [1, 0, 0, 0, 0]}


def test_every_chart_is_well_formed_svg_with_its_labels_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    ratings = [evaluation(i, MONDAY + timedelta(days=7 * i), {"a": 1 + i % 5}) for i in range(12)]
    svgs = [
        charts.trend(ratings, [("a", hostile)], hostile),
        charts.trend([], [("a", "A")], "empty"),
        charts.distribution(charts.score_counts(ratings, ["a"]), [("a", hostile)], hostile),
        charts.histogram([1.0, 3.3, 4.9, 5.0], hostile),
    ]
    for svg in svgs:
        root = ET.fromstring(svg)  # raises on anything malformed
        assert root.tag.endswith("svg")
        assert "<script" not in svg


def test_the_histogram_puts_each_score_in_its_band() -> None:
    svg = charts.histogram([1.0, 1.1, 4.99, 5.0], "agents", bins=4)
    assert "<title>1.0-2.0: 2</title>" in svg
    assert "<title>4.0-5.0: 2</title>" in svg
