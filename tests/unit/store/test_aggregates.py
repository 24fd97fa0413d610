"""The rating totals' arithmetic without a database (callcenter/store/aggregates.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.store import aggregates
from callcenter.store.aggregates import Contribution, Score, TotalsRow
from callcenter.store.decay import Decay
from tests.unit.store.helpers import T0

DAY = timedelta(days=1)
HALF = Decay(10)  # ten-day half-life


def test_deltas_count_each_category_and_the_overall_row() -> None:
    assert aggregates.deltas({"a": 4, "b": 2}) == [("a", 1, 4), ("b", 1, 2), ("*", 1, 6)]


def test_moved_brings_a_row_forward_and_adds_at_weight_one() -> None:
    row = TotalsRow(n=1, total=4, dn=1.0, dtotal=4.0, as_of=T0)
    dn, dtotal, as_of = aggregates.moved(row, HALF, T0 + 10 * DAY, given_at=T0 + 10 * DAY, sign=1, n=1, total=2)
    assert (dn, dtotal) == pytest.approx((1.5, 4.0))
    assert as_of == T0 + 10 * DAY
    # a change stamped before the row's as_of never moves it back, and counts with the weight it has there
    dn, dtotal, as_of = aggregates.moved(row, HALF, T0 - DAY, given_at=T0 - 10 * DAY, sign=1, n=1, total=2)
    assert (dn, dtotal) == pytest.approx((1.5, 5.0))
    assert as_of == T0
    assert aggregates.moved(None, HALF, T0, given_at=T0, sign=1, n=1, total=3) == (1.0, 3.0, T0)


@given(st.integers(1, 5), st.floats(0, 5000), st.floats(0, 5000))
def test_taking_back_what_was_added_leaves_nothing_never_less(score: int, given_days: float, later: float) -> None:
    given_at = T0 + given_days * DAY
    dn, dtotal, as_of = aggregates.moved(None, HALF, given_at, given_at=given_at, sign=1, n=1, total=score)
    row = TotalsRow(1, score, dn, dtotal, as_of)
    now = given_at + later * DAY
    dn, dtotal, _ = aggregates.moved(row, HALF, now, given_at=given_at, sign=-1, n=1, total=score)
    assert 0.0 <= dn < 1e-9
    assert 0.0 <= dtotal < 1e-9


def test_summary_of_no_rows_and_of_some() -> None:
    empty = aggregates.summary({}, HALF, T0)
    assert (empty.count, empty.overall_mean, empty.decayed_overall_mean, dict(empty.per_category)) == (
        0,
        None,
        None,
        {},
    )
    rows = {
        "a": TotalsRow(2, 9, 2.0, 9.0, T0),
        "b": TotalsRow(1, 1, 1.0, 1.0, T0),
        "*": TotalsRow(2, 10, 2.0, 10.0, T0),
    }
    s = aggregates.summary(rows, HALF, T0 + 10 * DAY)
    assert (s.count, s.score_count, s.score_total) == (2, 3, 10)
    assert s.overall_mean == pytest.approx(10 / 3)
    a = s.per_category["a"]
    assert (a.n, a.total, a.mean) == (2, 9, 4.5)
    assert (a.decayed_n, a.decayed_total, a.decayed_mean) == pytest.approx((1.0, 4.5, 4.5))
    assert s.decayed_count == pytest.approx(1.0)
    assert s.decayed_overall_mean == pytest.approx(10 / 3)


def test_a_mean_of_almost_no_weight_is_none_and_rounding_stays_in_range() -> None:
    assert aggregates.mean(1e-7, 3e-7) is None
    assert aggregates.mean(1.0, 5.0000001) == 5.0
    assert aggregates.mean(1.0, 0.9999999) == 1.0


def test_contributions_group_scores_and_sum_each_evaluation_into_the_overall_row() -> None:
    scores = [Score("1001", 1, T0, "a", 4), Score("1001", 1, T0, "b", 2), Score("1001", 2, T0 + DAY, "a", 5)]
    assert aggregates.contributions(scores) == {
        ("1001", "a"): [Contribution(T0, 1, 4), Contribution(T0 + DAY, 1, 5)],
        ("1001", "b"): [Contribution(T0, 1, 2)],
        ("1001", "*"): [Contribution(T0, 1, 6), Contribution(T0 + DAY, 1, 5)],
    }
    assert aggregates.decayed_sum([Contribution(T0, 1, 4)], HALF, T0 + 10 * DAY) == pytest.approx((0.5, 2.0))


def test_comparisons_name_every_difference() -> None:
    assert aggregates.compare("t", "k", {("x", "a"): (1, 4)}, {("x", "a"): (1, 4)}) == []
    assert aggregates.compare("t", "k", {("x", "a"): (1, 5)}, {("y", "a"): (1, 4)}) == [
        "t: k x category 'a' stores n=1 total=5, evaluations give n=0 total=0",
        "t: k y category 'a' stores n=0 total=0, evaluations give n=1 total=4",
    ]
    stored = {("x", "a"): TotalsRow(1, 4, 1.0, 4.0, T0)}
    assert aggregates.compare_decayed("t", "k", stored, {("x", "a"): [Contribution(T0, 1, 4)]}, HALF) == []
    late = aggregates.compare_decayed("t", "k", stored, {("x", "a"): [Contribution(T0 + DAY, 1, 4)]}, HALF)
    assert late[0].startswith("t: k x category 'a' is as of 2025-03-01T09:00:00.000000+00:00, but counts a rating")
