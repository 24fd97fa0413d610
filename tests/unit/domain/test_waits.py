"""The wait arithmetic offers speak: handle times (EWMA), the expected wait, the full-queue rule, spoken minutes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter.domain.waits import (
    HANDLE_ALPHA,
    MAX_SPOKEN_MINUTES,
    AgentLoad,
    HandleTime,
    QueueLimits,
    ewma,
    handle_time,
    is_full,
    load,
    offering,
    remaining,
    spoken_minutes,
)

talk = st.floats(min_value=0, max_value=7200, allow_nan=False)


def test_the_first_talk_times_are_averaged_then_each_next_one_moves_it_by_alpha() -> None:
    assert ewma(None, 120.0) == HandleTime(120.0, 1)
    assert ewma(HandleTime(120.0, 1), 220.0) == HandleTime(170.0, 2)  # the mean of two
    settled = HandleTime(120.0, 20)
    assert ewma(settled, 220.0).seconds == pytest.approx(120.0 + HANDLE_ALPHA * 100.0)
    # one very long call moves the average, it does not take it over
    assert ewma(settled, 3600.0).seconds < 1200.0


def test_handle_time_follows_the_samples_in_order() -> None:
    assert handle_time([]) is None
    assert handle_time([60.0]) == HandleTime(60.0, 1)
    assert handle_time([60.0, 60.0, 60.0]) == HandleTime(pytest.approx(60.0), 3)  # type: ignore[arg-type]
    # the first few are their mean, whatever the order; then the newest weighs most
    two = handle_time([30.0, 300.0])
    assert two is not None
    assert two.seconds == pytest.approx(165.0)
    recent_long, recent_short = handle_time([30.0] * 10 + [300.0] * 3), handle_time([300.0] * 3 + [30.0] * 10)
    assert recent_long is not None
    assert recent_short is not None
    assert recent_long.seconds > 150.0 > recent_short.seconds


def test_a_talk_time_must_be_seconds() -> None:
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="talk time"):
            ewma(HandleTime(100.0, 3), bad)


@given(st.lists(talk, min_size=1, max_size=30))
def test_the_average_stays_within_the_samples(samples: list[float]) -> None:
    value = handle_time(samples)
    assert value is not None
    assert value.calls == len(samples)
    assert min(samples) - 1e-6 <= value.seconds <= max(samples) + 1e-6


def test_what_is_left_of_a_call_never_drops_below_a_quarter_of_the_handle_time() -> None:
    assert remaining(200.0, 50.0) == 150.0
    assert remaining(200.0, 0.0) == 200.0
    assert remaining(200.0, 190.0) == 50.0  # a quarter, not 10 s
    assert remaining(200.0, 10_000.0) == 50.0
    assert remaining(200.0, -5.0) == 200.0  # a clock step back: the whole call


def test_a_free_agent_nobody_waits_for_rings_at_once() -> None:
    assert load(member_free=True, waiting=0, handle=120.0, current=None) == AgentLoad(True, 0, 0.0)


def test_a_free_agent_with_a_caller_already_on_the_way_is_taken() -> None:
    taken = load(member_free=True, waiting=1, handle=120.0, current=None)
    assert taken == AgentLoad(False, 1, 120.0)  # the next caller waits while that one is served


def test_the_wait_is_the_rest_of_the_call_plus_a_handle_time_per_caller_ahead() -> None:
    assert load(member_free=False, waiting=0, handle=120.0, current=90.0) == AgentLoad(False, 0, 90.0)
    assert load(member_free=False, waiting=2, handle=120.0, current=90.0) == AgentLoad(False, 2, 330.0)
    with pytest.raises(ValueError, match="negative"):
        load(member_free=False, waiting=-1, handle=120.0, current=None)


@pytest.mark.parametrize(
    ("agent", "limits", "full"),
    [
        (AgentLoad(True, 0, 0.0), QueueLimits(1, 1.0), False),  # a free agent is never full
        (AgentLoad(False, 1, 100.0), QueueLimits(2, 600.0), False),
        (AgentLoad(False, 2, 100.0), QueueLimits(2, 600.0), True),  # max_waiting callers already wait
        (AgentLoad(False, 0, 601.0), QueueLimits(2, 600.0), True),  # too long a wait
        (AgentLoad(False, 0, 600.0), QueueLimits(2, 600.0), False),
        (AgentLoad(False, 50, 1e6), QueueLimits(0, 0.0), False),  # 0: no limit
        (AgentLoad(False, 5, 10.0), QueueLimits(0, 600.0), False),
        (AgentLoad(False, 1, 900.0), QueueLimits(0, 600.0), True),
    ],
)
def test_the_full_queue_rule(agent: AgentLoad, limits: QueueLimits, full: bool) -> None:
    assert is_full(agent, limits) is full


def test_limits_refuse_negative_values() -> None:
    with pytest.raises(ValueError, match="negative"):
        QueueLimits(-1, 600.0)
    with pytest.raises(ValueError, match="negative"):
        QueueLimits(2, -1.0)


@given(st.integers(min_value=0, max_value=20), st.floats(min_value=1, max_value=3600), talk)
def test_one_more_caller_waiting_never_shortens_the_wait(waiting: int, handle: float, left: float) -> None:
    now = load(member_free=False, waiting=waiting, handle=handle, current=left)
    later = load(member_free=False, waiting=waiting + 1, handle=handle, current=left)
    assert later.wait_seconds >= now.wait_seconds
    assert is_full(later, QueueLimits(3, 900.0)) >= is_full(now, QueueLimits(3, 900.0))


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(0, 0), (59.9, 0), (60, 1), (89, 1), (150, 2), (180, 3), (1799, 30), (1800, 30), (1801, 31), (10_000, 31)],
)
def test_waits_are_spoken_in_whole_minutes(seconds: float, minutes: int) -> None:
    assert spoken_minutes(seconds) == minutes
    assert spoken_minutes(seconds) <= MAX_SPOKEN_MINUTES + 1


def test_a_negative_wait_is_a_bug() -> None:
    with pytest.raises(ValueError, match="negative"):
        spoken_minutes(-1)


def test_an_agent_is_offered_free_with_a_wait_or_not_at_all() -> None:
    limits = QueueLimits(max_waiting=2, max_wait_seconds=600.0)
    assert offering(AgentLoad(True, 0, 0.0), limits) == "free"
    assert offering(AgentLoad(False, 0, 170.0), limits) == "wait"  # on a call
    assert offering(AgentLoad(False, 1, 180.0), limits) == "wait"  # taken by a caller on the way
    assert offering(AgentLoad(False, 2, 180.0), limits) == "full"
    assert offering(AgentLoad(False, 1, 900.0), limits) == "full"
    assert offering(None, limits) == "away"


@given(st.booleans(), st.integers(min_value=0, max_value=10), st.floats(min_value=1, max_value=900), talk)
def test_a_full_queue_is_never_offered_as_free(member_free: bool, waiting: int, handle: float, left: float) -> None:
    agent = load(member_free=member_free, waiting=waiting, handle=handle, current=None if member_free else left)
    how = offering(agent, QueueLimits(max_waiting=1, max_wait_seconds=300.0))
    assert how != "free" or (member_free and waiting == 0)
    assert how != "full" or not agent.free
