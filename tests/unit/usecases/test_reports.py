"""Operator read-outs against a real store seeded with the demo history (callcenter.demo.seed).

The demo history, with calls 10 minutes apart from T0 - 30 days and callers taking turns:
    1001: 5 calls (callers 5551001, 5551002, 5551003, 5551004, 5551001), 89 points over 20 scores
    1002: 4 calls (5551002, 5551003, 5551004, 5551001); 1003: 3 calls (5551002, 5551003, 5551004)
Agents rate every caller 4 in every category, so each demo caller has 3 evaluations of 4s.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.cli.reports import render_agent, render_calls, render_client, to_data, to_json
from callcenter.config import Config
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.policy import Policy, caller_priority, member_penalty, score
from callcenter.domain.summaries import ratings
from callcenter.store import AgentDef, CategoryDef, ServiceDef, SqliteStore
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from callcenter.usecases.reports import CallRow, agent_report, calls_report, client_report

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
CONFIG = Config()
# [journey] remind_days: how far back ratings are owed (the CLI passes the configured value)
OWED_DAYS = CONFIG.journey.remind_days
CATEGORIES = CONFIG.categories
CATEGORY_IDS = tuple(c.id for c in CATEGORIES)
POLICY = Policy(**dataclasses.asdict(CONFIG.policy))


def agent(agent_id: str, name: str) -> AgentDef:
    return AgentDef(
        id=agent_id,
        name=name,
        interface=f"PJSIP/agent{agent_id}",
        kind="sip",
        services=("support",),
        queues=(f"agent-{agent_id}", "service-support"),
    )


ROSTER = (agent("1001", "Alice"), agent("1002", "Bob"), agent("1003", "Carol"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """The store as `callcenter` opens it (config categories and services, a roster), plus the demo history."""
    s = await SqliteStore.open(tmp_path / "x.db")
    try:
        await s.sync_categories([CategoryDef(c.id, c.label) for c in CATEGORIES])
        await s.sync_services([ServiceDef(v.id, v.name) for v in CONFIG.services])
        await s.sync_roster(ROSTER, now=T0)
        assert await seed_history(s, DEMO_HISTORY, now=T0) == 12
        yield s
    finally:
        await s.close()


async def answered(
    store: SqliteStore, uniqueid: str, number: str, agent_id: str, at: datetime, *, hold: int = 35, talk: int = 265
) -> None:
    client = await store.client_for_number(number, at)
    assert client is not None
    await store.start_call(uniqueid, uniqueid, client.id, "support", at)
    await store.call_queued(uniqueid, "service-support", at)
    await store.call_answered(uniqueid, agent_id, at + timedelta(seconds=hold))
    await store.call_ended(uniqueid, "answered", at + timedelta(seconds=hold + talk))


async def client_count(store: SqliteStore) -> int:
    async with store.db.read() as conn:
        rows = list(await conn.execute_fetchall("SELECT COUNT(*) FROM clients"))
    return int(rows[0][0])


# --- agent ------------------------------------------------------------------------------------------------------


async def test_agent_report_gives_the_ivr_scores_next_to_the_raw_figures(store: SqliteStore) -> None:
    report = await agent_report(store, "1001", CATEGORIES, POLICY, owed_days=OWED_DAYS)

    s = report.scores
    assert (s.evaluations, s.is_new) == (5, False)
    # (prior 3.5 x weight 3 + 89 points) / (3 + 20 scores)
    assert s.overall.score == pytest.approx((3.5 * 3 + 89) / 23)
    assert s.overall.mean == pytest.approx(89 / 20)
    assert s.overall.n == 20
    assert [line.id for line in s.categories] == list(CATEGORY_IDS)
    assert [line.label for line in s.categories] == [c.label for c in CATEGORIES]
    attitude = s.categories[0]  # 5, 4, 5, 4, 5
    assert attitude.score == pytest.approx((10.5 + 23) / 8)
    assert attitude.mean == pytest.approx(4.6)
    assert attitude.n == 5
    # exactly what the IVR computes from the same summary
    expected = score(ratings(await store.agent_summary("1001")), CATEGORY_IDS, POLICY)
    assert s.overall.score == expected.overall
    assert {line.id: line.score for line in s.categories} == expected.per_category
    assert report.penalty == member_penalty(expected, POLICY) == 1


async def test_agent_report_lists_recent_evaluations_newest_first_with_the_caller(store: SqliteStore) -> None:
    report = await agent_report(store, "1001", CATEGORIES, POLICY, recent=3, owed_days=OWED_DAYS)

    assert [(e.call_uniqueid, e.caller, e.deleted) for e in report.recent] == [
        ("seed-1001-4", "5551001", False),
        ("seed-1001-3", "5551004", False),
        ("seed-1001-2", "5551003", False),
    ]
    first = report.recent[0]
    assert first.at == T0 - timedelta(days=30, minutes=-40)
    assert dict(first.scores) == {"attitude": 5, "knowledge": 4, "availability": 4, "other": 5}


async def test_a_deleted_evaluation_stops_counting_but_is_still_listed(store: SqliteStore) -> None:
    await store.delete_evaluation("seed-1001-4", CLIENT_TO_AGENT, "operator", "abusive caller", T0)

    report = await agent_report(store, "1001", CATEGORIES, POLICY, owed_days=OWED_DAYS)

    assert (report.scores.evaluations, report.scores.overall.n) == (4, 16)
    assert report.scores.overall.score == pytest.approx((10.5 + 89 - 18) / 19)
    assert (report.recent[0].call_uniqueid, report.recent[0].deleted) == ("seed-1001-4", True)
    assert dict(report.recent[0].scores) == {"attitude": 5, "knowledge": 4, "availability": 4, "other": 5}
    assert len(report.recent) == 5


async def test_an_agent_without_ratings_gets_the_prior_and_is_new(store: SqliteStore) -> None:
    await store.sync_roster([*ROSTER, agent("1004", "Dave")], now=T0)

    report = await agent_report(store, "1004", CATEGORIES, POLICY, owed_days=OWED_DAYS)

    assert (report.scores.evaluations, report.scores.is_new, report.recent) == (0, True, ())
    assert report.scores.overall.score == POLICY.prior_mean
    assert (report.scores.overall.mean, report.scores.overall.n) == (None, 0)
    assert all(line.mean is None and line.score == POLICY.prior_mean for line in report.scores.categories)
    assert "0 evaluations; announced as new (fewer than 3)" in render_agent(report)


async def test_unknown_agent_is_a_lookup_error(store: SqliteStore) -> None:
    with pytest.raises(LookupError, match="no agent '9999'"):
        await agent_report(store, "9999", CATEGORIES, POLICY, owed_days=OWED_DAYS)


# --- client -----------------------------------------------------------------------------------------------------


async def test_client_report_gives_reputation_priority_and_recent_evaluations(store: SqliteStore) -> None:
    report = await client_report(store, "555-1001", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)

    assert report.client.number == "5551001"
    s = report.scores
    assert (s.evaluations, s.is_new, s.overall.n, s.overall.mean) == (3, False, 12, 4.0)
    assert s.overall.score == pytest.approx((10.5 + 48) / 15)  # 3.9
    assert [(line.score, line.mean, line.n) for line in s.categories] == [(3.75, 4.0, 3)] * 4
    summary = await store.client_summary(report.client.id)
    assert report.priority == caller_priority(ratings(summary), POLICY) == 6
    # the agents who rated this caller: calls 0 and 4 went to 1001, call 8 to 1002
    assert [(e.call_uniqueid, e.agent_id, e.caller) for e in report.recent] == [
        ("seed-1002-3", "1002", "5551001"),
        ("seed-1001-4", "1001", "5551001"),
        ("seed-1001-0", "1001", "5551001"),
    ]
    assert report.owed == ()


async def test_client_report_lists_recent_calls_the_caller_never_rated(store: SqliteStore) -> None:
    await answered(store, "owed-new", "5551001", "1002", T0 - timedelta(days=1))
    await answered(store, "owed-old", "5551001", "1003", T0 - timedelta(days=20))  # past the reminder window
    await answered(store, "rated", "5551001", "1003", T0 - timedelta(days=2))
    await store.record_evaluation("rated", CLIENT_TO_AGENT, {"attitude": 5}, "client:5551001", T0)
    await answered(store, "other", "5551002", "1003", T0 - timedelta(days=1))  # someone else's

    report = await client_report(store, "5551001", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)

    assert [c.uniqueid for c in report.owed] == ["owed-new"]
    assert report.owed_since == T0 - timedelta(days=14)
    longer = await client_report(store, "5551001", CATEGORIES, POLICY, now=T0, owed_days=30)
    assert [c.uniqueid for c in longer.owed] == ["owed-new", "owed-old"]


async def test_a_caller_with_few_ratings_gets_the_neutral_priority(store: SqliteStore) -> None:
    await answered(store, "first", "+4420700001", "1001", T0 - timedelta(hours=1))
    await store.record_evaluation("first", AGENT_TO_CLIENT, {"attitude": 1, "other": 1}, "agent:1001", T0)

    report = await client_report(store, "+44 20 700001", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)

    assert (report.scores.evaluations, report.scores.is_new) == (1, True)
    assert report.priority == POLICY.priority_neutral
    assert report.scores.overall.score == pytest.approx((10.5 + 2) / 5)
    assert [(line.n, line.mean) for line in report.scores.categories] == [(1, 1.0), (0, None), (0, None), (1, 1.0)]
    assert [c.uniqueid for c in report.owed] == ["first"]


@pytest.mark.parametrize(("number", "message"), [("5559999", "no calls from 5559999"), ("abc", "not a phone number")])
async def test_unknown_or_invalid_number_is_a_lookup_error_and_creates_no_client(
    store: SqliteStore, number: str, message: str
) -> None:
    before = await client_count(store)
    with pytest.raises(LookupError, match=message):
        await client_report(store, number, CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)
    with pytest.raises(LookupError, match=message):
        await calls_report(store, number=number)
    await client_report(store, "5551001", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)
    assert await client_count(store) == before == 4


# --- calls ------------------------------------------------------------------------------------------------------


async def test_calls_report_lists_recent_calls_newest_first_with_who_rated(store: SqliteStore) -> None:
    await answered(store, "unrated", "5551002", "1002", T0 - timedelta(minutes=5))
    await store.record_evaluation("unrated", AGENT_TO_CLIENT, {"other": 2}, "agent:1002", T0)
    await store.start_call("anon", "anon", None, "support", T0)
    await store.call_queued("anon", "service-support", T0)
    await store.call_ended("anon", "abandoned", T0 + timedelta(seconds=42))
    await store.start_call("live", "live", None, None, T0 + timedelta(minutes=1))

    rows = await calls_report(store, limit=4)

    assert rows == [
        CallRow("live", T0 + timedelta(minutes=1), None, None, None, None, None, None, None, None, None),
        CallRow("anon", T0, None, "support", "service-support", None, "abandoned", 42, None, None, None),
        CallRow(
            "unrated",
            T0 - timedelta(minutes=5),
            "5551002",
            "support",
            "service-support",
            "1002",
            "answered",
            35,
            265,
            "no",
            "yes",
        ),
        CallRow(
            "seed-1003-2",
            T0 - timedelta(days=30) + timedelta(minutes=110),
            "5551004",
            "support",
            "agent-1003",
            "1003",
            "answered",
            20,
            220,
            "yes",
            "yes",
        ),
    ]
    assert len(await calls_report(store)) == 15


async def test_calls_report_filters_by_agent_and_number(store: SqliteStore) -> None:
    await store.delete_evaluation("seed-1002-3", CLIENT_TO_AGENT, "operator", "test", T0)

    by_agent = await calls_report(store, agent_id="1002")
    assert [r.uniqueid for r in by_agent] == [f"seed-1002-{n}" for n in (3, 2, 1, 0)]
    assert (by_agent[0].caller_rated, by_agent[0].agent_rated) == ("deleted", "yes")
    by_number = await calls_report(store, number="5551001")
    assert [r.uniqueid for r in by_number] == ["seed-1002-3", "seed-1001-4", "seed-1001-0"]
    both = await calls_report(store, agent_id="1001", number="5551001", limit=1)
    assert [r.uniqueid for r in both] == ["seed-1001-4"]
    with pytest.raises(LookupError, match="no agent '42'"):
        await calls_report(store, agent_id="42")


# --- rendering --------------------------------------------------------------------------------------------------


async def test_render_agent(store: SqliteStore) -> None:
    await store.delete_evaluation("seed-1001-4", CLIENT_TO_AGENT, "operator", "test", T0)
    text = render_agent(await agent_report(store, "1001", CATEGORIES, POLICY, recent=2, owed_days=OWED_DAYS))

    assert text.splitlines()[:4] == [
        "Agent 1001 Alice: active, sip, PJSIP/agent1001",
        "Services: support; queues: agent-1001, service-support",
        "Rated by callers: 4 evaluations; announced as 4.3 overall",
        "Penalty in shared queues: 1 (0 rings first, 4 last)",
    ]
    assert (
        "CATEGORY                SCORE  HEARD  MEAN   N\n"
        "overall                  4.29    4.3  4.44  16\n"
        "service attitude         4.07    4.1  4.50   4\n"
        "professional knowledge   4.07    4.1  4.50   4\n"
        "availability             4.07    4.1  4.50   4\n"
        "other                    3.93    3.9  4.25   4\n"
    ) in text
    assert text.endswith(
        "Recent evaluations from callers (newest first):\n"
        "CALL         DATE (UTC)           CALLER   ATTITUDE  KNOWLEDGE  AVAILABILITY  OTHER  STATUS\n"
        "seed-1001-4  2025-01-30 09:40:00  5551001         5          4             4      5  deleted\n"
        "seed-1001-3  2025-01-30 09:30:00  5551004         4          4             5      4  live\n"
        "\n"
        "Ratings owed: answered calls of the last 14 days where this agent has not rated the caller:\n"
        "  (none)"
    )


async def test_render_client(store: SqliteStore) -> None:
    await answered(store, "owed-1", "5551001", "1002", T0 - timedelta(days=1))
    text = render_client(
        await client_report(store, "5551001", CATEGORIES, POLICY, now=T0, recent=1, owed_days=OWED_DAYS)
    )

    assert text.splitlines()[:3] == [
        "Caller 5551001 (client 1)",
        "Rated by agents: 3 evaluations; announced as 3.9 overall",
        "Queue priority (QUEUE_PRIO): 6 (0-10, 5 for new callers; higher is answered first)",
    ]
    assert "overall                  3.90    3.9  4.00  12\n" in text
    assert (
        "CALL         DATE (UTC)           AGENT  ATTITUDE  KNOWLEDGE  AVAILABILITY  OTHER  STATUS\n"
        "seed-1002-3  2025-01-30 10:20:00  1002          4          4             4      4  live\n"
    ) in text
    assert text.endswith(
        "Ratings owed: answered calls since 2025-02-15 09:00:00 this caller has not rated:\n"
        "CALL    ANSWERED (UTC)       AGENT  SERVICE\n"
        "owed-1  2025-02-28 09:00:35  1002   support"
    )


async def test_render_client_without_evaluations_or_owed_ratings(store: SqliteStore) -> None:
    await answered(store, "x", "5550000", "1001", T0 - timedelta(days=40))
    text = render_client(await client_report(store, "5550000", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS))
    assert "Rated by agents: 0 evaluations; announced as new (fewer than 3)" in text
    assert "overall                  3.50    3.5     -  0\n" in text
    assert text.count("  (none)") == 2


async def test_render_calls(store: SqliteStore) -> None:
    await store.start_call("anon", "anon", None, "support", T0)
    await store.call_queued("anon", "service-support", T0)
    await store.call_ended("anon", "abandoned", T0 + timedelta(seconds=42))
    await store.start_call("live", "live", None, None, T0 + timedelta(minutes=1))

    text = render_calls(await calls_report(store, limit=3))

    assert text == (
        "CALL         STARTED (UTC)        CALLER     SERVICE  QUEUE            AGENT  OUTCOME      HOLD s  TALK s"
        "  CALLER RATED  AGENT RATED\n"
        "live         2025-03-01 09:01:00  anonymous  -        -                -      in progress       -       -"
        "  -             -\n"
        "anon         2025-03-01 09:00:00  anonymous  support  service-support  -      abandoned        42       -"
        "  -             -\n"
        "seed-1003-2  2025-01-30 10:50:00  5551004    support  agent-1003       1003   answered         20     220"
        "  yes           yes"
    )
    assert render_calls([]) == "no calls"


# --- JSON -------------------------------------------------------------------------------------------------------


async def test_agent_json(store: SqliteStore) -> None:
    report = await agent_report(store, "1001", CATEGORIES, POLICY, recent=1, owed_days=OWED_DAYS)
    data = json.loads(to_json(report))

    assert data == to_data(report)
    assert set(data) == {
        "agent",
        "evaluations",
        "is_new",
        "overall",
        "categories",
        "policy",
        "penalty",
        "recent",
        "owed",
    }
    assert data["agent"] == {
        "id": "1001",
        "name": "Alice",
        "active": True,
        "kind": "sip",
        "interface": "PJSIP/agent1001",
        "services": ["support"],
        "queues": ["agent-1001", "service-support"],
    }
    assert (data["evaluations"], data["is_new"], data["penalty"]) == (5, False, 1)
    assert data["overall"] == {"id": "overall", "label": "overall", "score": 4.33, "heard": 4.3, "mean": 4.45, "n": 20}
    assert data["categories"][0] == {
        "id": "attitude",
        "label": "service attitude",
        "score": 4.19,
        "heard": 4.2,
        "mean": 4.6,
        "n": 5,
    }
    assert data["recent"] == [
        {
            "call": "seed-1001-4",
            "at": "2025-01-30T09:40:00+00:00",
            "caller": "5551001",
            "agent_id": "1001",
            "scores": {"attitude": 5, "availability": 4, "knowledge": 4, "other": 5},
            "deleted": False,
        }
    ]


async def test_client_json(store: SqliteStore) -> None:
    await answered(store, "owed-1", "5551001", "1002", T0 - timedelta(days=1))
    report = await client_report(store, "5551001", CATEGORIES, POLICY, now=T0, owed_days=OWED_DAYS)
    data = json.loads(to_json(report))

    assert set(data) == {
        "client",
        "evaluations",
        "is_new",
        "overall",
        "categories",
        "policy",
        "priority",
        "recent",
        "owed_since",
        "owed",
    }
    assert data["client"] == {"id": report.client.id, "number": "5551001"}
    assert (data["priority"], data["overall"]["score"], len(data["recent"])) == (6, 3.9, 3)
    assert data["policy"] == {"prior_mean": 3.5, "prior_weight": 3.0, "min_ratings": 3}
    assert data["owed_since"] == "2025-02-15T09:00:00+00:00"
    assert data["owed"] == [
        {"call": "owed-1", "answered_at": "2025-02-28T09:00:35+00:00", "agent_id": "1002", "service_id": "support"}
    ]


async def test_calls_json(store: SqliteStore) -> None:
    await store.start_call("anon", "anon", None, "support", T0)
    data = json.loads(to_json(await calls_report(store, limit=2)))

    assert data == {
        "calls": [
            {
                "call": "anon",
                "started_at": "2025-03-01T09:00:00+00:00",
                "caller": None,
                "service_id": "support",
                "queue": None,
                "agent_id": None,
                "outcome": None,
                "hold_seconds": None,
                "talk_seconds": None,
                "caller_rated": None,
                "agent_rated": None,
            },
            {
                "call": "seed-1003-2",
                "started_at": "2025-01-30T10:50:00+00:00",
                "caller": "5551004",
                "service_id": "support",
                "queue": "agent-1003",
                "agent_id": "1003",
                "outcome": "answered",
                "hold_seconds": 20,
                "talk_seconds": 220,
                "caller_rated": "yes",
                "agent_rated": "yes",
            },
        ]
    }
    assert json.loads(to_json([])) == {"calls": []}
