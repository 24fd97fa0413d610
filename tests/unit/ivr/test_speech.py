"""The sentences callers and agents hear, file by file (the journey's are also asserted on a real Asterisk)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callcenter.asterisk.prompts import all_prompts
from callcenter.config import load_config
from callcenter.config.roster import load_roster
from callcenter.domain.policy import Score
from callcenter.domain.waits import AgentLoad
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
    assert speech.service_menu([("1", "support"), ("2", "sales")], manage_key="9") == [
        *["cc/choose-service", "cc/key-1", "cc/service-support", "cc/then-2", "cc/service-sales"],
        "cc/opt-review",
    ]
    assert speech.service_menu([("1", "support")]) == ["cc/choose-service", "cc/key-1", "cc/service-support"]
    assert speech.service_reprompt("support") == ["cc/or-hold-for", "cc/service-support"]


CATEGORIES = ("attitude", "knowledge")


def agent_offer(key: str, agent: str, overall: float, grade: str | None = "B", **kw: Any) -> speech.Offer:
    score = Score(overall, {"attitude": overall + 0.2, "knowledge": overall - 0.3}, 12, is_new=grade is None)
    return speech.Offer(key, agent, score, grade, **kw)


def test_the_first_pass_says_key_name_score_grade_and_wait_and_first_available_first() -> None:
    page = speech.MenuPage(
        [agent_offer("1", "1001", 4.56, "A"), agent_offer("2", "1003", 4.04), agent_offer("3", "1009", 3.5, None)],
        CATEGORIES,
        next_rank="attitude",
    )
    assert speech.agent_menu(page) == [
        *["cc/press-0", "cc/first-available"],
        *["cc/key-1", "cc/agent-1001", "cc/rated-4-6", "cc/grade-a", "cc/free-now"],
        *["cc/then-2", "cc/agent-1003", "cc/rated-4-0", "cc/grade-b", "cc/free-now"],
        *["cc/then-3", "cc/agent-1009", "cc/new-here", "cc/free-now"],
        # the categories (and ranking by them) on request; no 7 or 9 when there is nothing behind them
        *["cc/opt-details", "cc/opt-repeat"],
    ]


def test_busy_agents_are_offered_with_who_waits_and_how_long() -> None:
    on_a_call = agent_offer("1", "1001", 4.5, "A", load=AgentLoad(False, 0, 170.0))
    queued = agent_offer("2", "1002", 4.0, load=AgentLoad(False, 2, 430.0))
    taken = agent_offer("3", "1003", 3.9, "C", load=AgentLoad(False, 1, 50.0))
    page = speech.MenuPage([on_a_call, queued, taken], CATEGORIES, busy=True, other_list=True, more=True)
    files = speech.agent_menu(page)
    assert files[2:7] == ["cc/key-1", "cc/agent-1001", "cc/rated-4-5", "cc/grade-a", "cc/on-call"]
    assert files[7] == "cc/wait-3"  # about 3 minutes
    assert files[8:14] == ["cc/then-2", "cc/agent-1002", "cc/rated-4-0", "cc/grade-b", "cc/waiting-2", "cc/wait-7"]
    assert files[14:20] == ["cc/then-3", "cc/agent-1003", "cc/rated-3-9", "cc/grade-c", "cc/waiting-1", "cc/wait-0"]
    assert files[20:] == ["cc/opt-free", "cc/opt-more", "cc/opt-details", "cc/opt-repeat"]
    # a list of free agents with busy ones behind key 7
    free = speech.MenuPage([agent_offer("1", "1003", 4.0)], CATEGORIES, other_list=True)
    assert "cc/opt-busy" in speech.agent_menu(free)
    only_busy = speech.MenuPage([queued], CATEGORIES, busy=True, nobody_free=True)
    assert speech.agent_menu(only_busy)[:3] == ["cc/no-free", "cc/press-0", "cc/first-available"]


def test_load_phrases() -> None:
    assert speech.load_phrase(None) == ["cc/free-now"]
    assert speech.load_phrase(AgentLoad(True, 0, 0.0)) == ["cc/free-now"]
    assert speech.load_phrase(AgentLoad(False, 0, 3000.0)) == ["cc/on-call", "cc/wait-31"]
    assert speech.waiting_phrase(12) == ["digits/12", "cc/callers-waiting"]
    with pytest.raises(ValueError, match="nobody"):
        speech.waiting_phrase(0)


def test_details_on_request_give_every_category_and_the_ratings_count() -> None:
    page = speech.MenuPage([agent_offer("1", "1001", 4.56, "A")], CATEGORIES, next_rank="attitude", details=True)
    assert speech.agent_menu(page) == [
        *["cc/press-0", "cc/first-available"],
        *["cc/key-1", "cc/agent-1001", "cc/rated-4-6", "cc/grade-a", "cc/from", "digits/12", "cc/ratings"],
        *["cc/cat-attitude", "cc/score-4-8", "cc/cat-knowledge", "cc/score-4-3", "cc/free-now"],
        *["cc/opt-rank", "cc/cat-attitude", "cc/opt-short", "cc/opt-repeat"],
    ]


def test_ranked_by_a_category_each_agent_is_said_with_that_score() -> None:
    page = speech.MenuPage(
        [agent_offer("1", "1001", 4.0), agent_offer("2", "1002", 4.5)],
        CATEGORIES,
        ranked_by="knowledge",
        next_rank=None,
    )
    assert speech.agent_menu(page) == [
        *["cc/press-0", "cc/first-available", "cc/ranked-by", "cc/cat-knowledge"],
        *["cc/key-1", "cc/agent-1001", "cc/score-3-7", "cc/free-now"],
        *["cc/then-2", "cc/agent-1002", "cc/score-4-2", "cc/free-now"],
        *["cc/opt-rank-overall", "cc/opt-details", "cc/opt-repeat"],
    ]


def test_phrases_exist_for_every_score_key_and_wait_a_menu_can_say() -> None:
    every = set(all_prompts_of_demo())
    named = {speech.rated(v / 10).removeprefix("cc/") for v in range(10, 51)}
    named |= {speech.score_phrase(v / 10).removeprefix("cc/") for v in range(10, 51)}
    named |= {speech.key_for(str(k), lead=lead).removeprefix("cc/") for k in range(1, 9) for lead in (True, False)}
    named |= {speech.wait_phrase(s).removeprefix("cc/") for s in range(0, 4000, 7)}
    named |= {speech.waiting_phrase(n)[0].removeprefix("cc/") for n in range(1, 10)}
    named |= {speech.grade_phrase(g).removeprefix("cc/") for g in "ABCDE"}
    assert named <= every, named - every
    # every cc/ file the caller's menus can play is a prompt we generate
    pages = [
        speech.MenuPage(
            [agent_offer("1", "1001", 4.0, load=AgentLoad(False, 1, 90.0))],
            ("attitude",),
            ranked_by=r,
            next_rank=n,
            more=True,
            busy=b,
            other_list=True,
            details=d,
            nobody_free=b,
        )
        for r, n in ((None, "attitude"), ("attitude", None))
        for b in (False, True)
        for d in (False, True)
    ]
    files = {f for p in pages for f in speech.agent_menu(p)} | set(speech.AGENT_REPROMPT)
    files |= set(speech.service_menu([("1", "support")], "9")) | set(speech.service_reprompt("support"))
    assert {f.removeprefix("cc/") for f in files if f.startswith("cc/")} <= every


def test_a_menu_key_outside_1_to_8_has_no_phrase() -> None:
    for k in ("0", "9", "#", "12"):
        with pytest.raises(ValueError, match="phrase"):
            speech.key_for(k)


def all_prompts_of_demo() -> dict[str, str]:
    project = Path(__file__).resolve().parents[3]
    config = load_config(project / "callcenter/demo/callcenter.toml", {})
    agents = load_roster(project / "callcenter/demo/agents.toml", {s.id for s in config.services})
    return all_prompts(config, agents) | {"agent-1001": "", "agent-1002": "", "agent-1003": "", "agent-1009": ""}


def test_the_keys_of_a_menu_read_back() -> None:
    page = speech.MenuPage(
        [agent_offer("1", "1001", 4.5), agent_offer("2", "1003", 4.0), agent_offer("3", "1002", 3.5, None)],
        CATEGORIES,
        more=True,
        other_list=True,
    )
    assert speech.menu_keys(speech.agent_menu(page)) == [("1", "1001"), ("2", "1003"), ("3", "1002")]
    details = dataclasses.replace(page, details=True)
    assert speech.menu_keys(speech.agent_menu(details)) == [("1", "1001"), ("2", "1003"), ("3", "1002")]
    # a service menu names services, not agents
    assert speech.menu_keys(speech.service_menu([("1", "support")], "9")) == []
