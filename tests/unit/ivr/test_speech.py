"""The self-service sentences, file by file (the journey's sentences are asserted on a real Asterisk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.ivr import speech

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "files"),
    [
        (1, ["digits/h-1"]),
        (13, ["digits/h-13"]),
        (20, ["digits/h-20"]),
        (21, ["digits/20", "digits/h-1"]),
        (30, ["digits/h-30"]),
        (31, ["digits/30", "digits/h-1"]),
    ],
)
def test_ordinals_use_asterisks_h_files(day: int, files: list[str]) -> None:
    assert speech.ordinal(day) == files


def test_ordinal_refuses_what_is_no_day() -> None:
    with pytest.raises(ValueError, match="day"):
        speech.ordinal(32)


def test_call_dates_are_today_yesterday_month_and_day_or_with_the_year() -> None:
    utc = ZoneInfo("UTC")
    assert speech.call_date(NOW - timedelta(hours=3), NOW, utc) == ["digits/today"]
    assert speech.call_date(NOW - timedelta(days=1), NOW, utc) == ["digits/yesterday"]
    assert speech.call_date(NOW - timedelta(days=21), NOW, utc) == ["digits/mon-10", "digits/h-3"]
    assert speech.call_date(datetime(2025, 12, 25, tzinfo=UTC), NOW, utc) == [
        "digits/mon-11",
        "digits/20",
        "digits/h-5",
        "digits/2",
        "digits/thousand",
        "digits/20",
        "digits/5",
    ]


def test_call_dates_follow_the_configured_time_zone() -> None:
    late = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # still the 23rd in New York
    assert speech.call_date(late, NOW, ZoneInfo("UTC")) == ["digits/today"]
    assert speech.call_date(late, NOW, ZoneInfo("America/New_York")) == ["digits/yesterday"]


def test_an_agent_hears_only_the_last_four_digits_of_a_caller() -> None:
    assert speech.number_ending("+1 555 010-4567") == [
        "cc/caller-ending",
        "digits/4",
        "digits/5",
        "digits/6",
        "digits/7",
    ]


def test_review_entry_offers_only_what_can_be_done() -> None:
    unrated = speech.ReviewEntry(1, 2, ["digits/today"], ["cc/agent-1001"], None)
    assert speech.review_entry(unrated) == [
        *["cc/call", "digits/1", "cc/of", "digits/2", "digits/today", "cc/with", "cc/agent-1001"],
        *["cc/not-rated-yet", "cc/press", "digits/1", "cc/to-rate"],
        *["cc/press", "digits/6", "cc/for-next"],
        *["cc/press", "digits/star", "cc/to-repeat", "cc/press", "digits/pound", "cc/to-finish"],
    ]
    rated = speech.ReviewEntry(2, 2, ["digits/today"], ["cc/agent-1001"], {"attitude": 4})
    files = speech.review_entry(rated)
    assert files[7:10] == ["cc/your-rating", "cc/cat-attitude", "digits/4"]
    assert files[10:16] == ["cc/press", "digits/1", "cc/to-change", "cc/press", "digits/7", "cc/to-delete"]
    assert "cc/for-next" not in files
    assert "cc/for-previous" in files
    frozen = speech.ReviewEntry(1, 1, ["digits/today"], ["cc/agent-1001"], {"attitude": 4}, "cc/rating-frozen")
    files = speech.review_entry(frozen)
    assert "cc/rating-frozen" in files
    assert not {"cc/to-change", "cc/to-delete", "cc/to-rate"} & set(files)


def test_presence_and_pause_reasons() -> None:
    assert speech.presence("paused", "coffee break") == ["cc/agent-paused", "cc/reason-coffee-break"]
    assert speech.presence("available", None) == ["cc/agent-available"]
    assert speech.presence("logged_out", None) == ["cc/agent-logged-out"]
    assert speech.pause_reasons_menu(["break", "lunch"]) == [
        *["cc/choose-pause-reason", "cc/for", "cc/reason-break", "cc/press", "digits/1"],
        *["cc/for", "cc/reason-lunch", "cc/press", "digits/2"],
    ]


def test_service_menu_offers_the_ratings_menu() -> None:
    assert speech.service_menu([("1", "support")], manage_key="9") == [
        *["cc/choose-service", "cc/for", "cc/service-support", "cc/press", "digits/1"],
        *["cc/manage-ratings", "cc/press", "digits/9"],
    ]
