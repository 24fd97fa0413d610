"""bench.cores' arithmetic: calls/s at a fixed p99, interpolated between the load levels."""

from __future__ import annotations

from bench.cores import Point, at_latency


def point(concurrency: int, calls_per_s: float, p99_ms: float) -> Point:
    return Point(1, concurrency, calls_per_s, p99_ms / 2, p99_ms, 0, 1.0, 0.1, 1.0, 0.0, (1.0,))


LEVELS = [point(2, 50, 20), point(4, 90, 40), point(8, 120, 120), point(16, 125, 260)]


def test_between_two_levels_the_rate_is_interpolated() -> None:
    assert at_latency(LEVELS, 80) == 105.0  # halfway from 40 ms (90/s) to 120 ms (120/s)


def test_a_latency_every_level_meets_gives_the_best_rate() -> None:
    assert at_latency(LEVELS, 1000) == 125.0


def test_a_latency_no_level_meets_gives_nothing() -> None:
    assert at_latency(LEVELS, 10) == 0.0


def test_the_levels_may_come_in_any_order() -> None:
    assert at_latency(list(reversed(LEVELS)), 80) == 105.0
