"""Recency-decayed rating totals: kept incrementally, equal to a naive recomputation, recomputed when the
half-life changes, initialised by migration 3, and proved consistent by check_invariants."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.store.decay import Decay
from callcenter.store.errors import StoreError
from callcenter.store.models import DIRECTIONS, Direction, RatingSummary
from callcenter.store.opening import StoreUrl
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite import SqliteStore
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.migrate import bundled_migrations, migrate, schema_version
from tests.postgres import PostgresServer
from tests.unit.store.helpers import (
    BACKENDS,
    CATEGORIES,
    T0,
    answered_call,
    existing,
    fresh_store,
    migrated,
    seed,
    server_for,
    serving,
)

RATINGS_LOG = "callcenter.store.sql.ratings"

DAY = 86_400.0
CATEGORY_IDS = tuple(c.id for c in CATEGORIES)


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


@dataclass(frozen=True)
class Given:
    """One live evaluation as the naive model sees it: its scores and when they were given."""

    scores: Mapping[str, int]
    at: datetime


def weight(given_at: datetime, now: datetime, half_life: float | None) -> float:
    if not half_life:
        return 1.0
    return float(2.0 ** (-max(0.0, (now - given_at).total_seconds() / DAY) / half_life))


def expected(live: list[Given], now: datetime, half_life: float | None) -> dict[str, tuple[float, float]]:
    """Naive decayed (n, total) per category and for the overall row '*' (n = evaluations), as of ``now``."""
    out: dict[str, tuple[float, float]] = {}
    for g in live:
        w = weight(g.at, now, half_life)
        for key, total in [*g.scores.items(), ("*", sum(g.scores.values()))]:
            n0, t0 = out.get(key, (0.0, 0.0))
            out[key] = (n0 + w, t0 + total * w)
    return out


def assert_decayed(summary: RatingSummary, live: list[Given], now: datetime, half_life: float | None) -> None:
    want = expected(live, now, half_life)
    approx = pytest.approx
    assert set(summary.per_category) == set(want) - {"*"}
    for category, stat in summary.per_category.items():
        n, total = want[category]
        assert stat.decayed_n == approx(n, rel=1e-9), category
        assert stat.decayed_total == approx(total, rel=1e-9), category
        check_mean(stat.decayed_mean, n, total)
    count = want.get("*", (0.0, 0.0))[0]
    assert summary.decayed_count == approx(count, rel=1e-9, abs=1e-12)
    n_all = sum(v[0] for k, v in want.items() if k != "*")
    t_all = sum(v[1] for k, v in want.items() if k != "*")
    assert summary.decayed_score_count == approx(n_all, rel=1e-9, abs=1e-12)
    assert summary.decayed_score_total == approx(t_all, rel=1e-9, abs=1e-12)
    check_mean(summary.decayed_overall_mean, n_all, t_all)


def check_mean(mean: float | None, n: float, total: float) -> None:
    # Below 1e-6 of weight the store gives no mean (rounding residue); well above it, the exact ratio.
    if n < 1e-6:
        assert mean is None or n > 0.5e-6
    elif n > 2e-6:
        assert mean == pytest.approx(total / n, rel=1e-6)


@pytest.fixture
async def store30(place: StoreUrl) -> AsyncIterator[SqlStore]:
    """A seeded store keeping its decayed totals for a 30-day half-life."""
    async with await serving(place, half_life_days=30) as s:
        await seed(s)
        yield s


async def test_decayed_totals_follow_create_update_delete_revive(store30: SqlStore) -> None:
    s, hl = store30, 30.0
    call = await answered_call(s, "u1", agent="1002")
    await answered_call(s, "u2", agent="1002", number="+15550002")
    assert call.client_id is not None

    await s.record_evaluation("u1", "client_to_agent", {"attitude": 5, "knowledge": 3}, "ivr", day(0))
    await s.record_evaluation("u2", "client_to_agent", {"attitude": 2}, "ivr", day(10))
    await s.record_evaluation("u1", "agent_to_client", {"attitude": 1}, "1002", day(5))
    u1 = Given({"attitude": 5, "knowledge": 3}, day(0))
    u2 = Given({"attitude": 2}, day(10))
    for now in (day(10), day(20), day(365)):
        assert_decayed(await s.agent_summary("1002", now=now), [u1, u2], now, hl)
    assert_decayed(await s.client_summary(call.client_id, now=day(35)), [Given({"attitude": 1}, day(5))], day(35), hl)
    summary = await s.agent_summary("1002", now=day(30))
    assert summary.per_category["knowledge"].decayed_n == pytest.approx(0.5)  # one half-life on
    assert summary.per_category["knowledge"].decayed_mean == pytest.approx(3.0)
    assert summary.count == 2  # the exact fields are untouched by decay
    assert await s.check_invariants() == []

    # An update takes the old scores out with their age and counts the new ones as new (the age is refreshed).
    await s.record_evaluation("u1", "client_to_agent", {"availability": 4}, "ivr", day(30))
    u1 = Given({"availability": 4}, day(30))
    assert_decayed(await s.agent_summary("1002", now=day(40)), [u1, u2], day(40), hl)
    # Identical scores are no change: the age stays.
    await s.record_evaluation("u1", "client_to_agent", {"availability": 4}, "ivr", day(45))
    assert_decayed(await s.agent_summary("1002", now=day(45)), [u1, u2], day(45), hl)
    assert await s.check_invariants() == []

    await s.delete_evaluation("u1", "client_to_agent", "supervisor", "test", day(50))
    assert_decayed(await s.agent_summary("1002", now=day(60)), [u2], day(60), hl)
    assert "availability" not in (await s.agent_summary("1002", now=day(60))).per_category
    assert await s.check_invariants() == []

    await s.record_evaluation("u1", "client_to_agent", {"knowledge": 1}, "ivr", day(70))
    u1 = Given({"knowledge": 1}, day(70))
    for now in (day(70), day(100)):
        assert_decayed(await s.agent_summary("1002", now=now), [u1, u2], now, hl)
    assert await s.agent_summaries(["1002", "1003"], now=day(100)) == {
        "1002": await s.agent_summary("1002", now=day(100)),
        "1003": RatingSummary(count=0, score_count=0, score_total=0, per_category={}, overall_mean=None),
    }
    empty = (await s.agent_summaries(["1003"], now=day(100)))["1003"]
    assert (empty.decayed_count, empty.decayed_score_count, empty.decayed_overall_mean) == (0.0, 0.0, None)
    assert await s.check_invariants() == []

    # Reading before the rows' as_of never inflates: the values are those as of as_of.
    early = await s.agent_summary("1002", now=day(0))
    assert early.per_category["knowledge"].decayed_n == pytest.approx(1.0)
    # Reading never writes: the wall-clock default reads the same rows.
    assert (await s.agent_summary("1002")).count == 2
    with pytest.raises(ValueError, match="timezone-aware"):
        await s.agent_summary("1002", now=datetime(2025, 1, 1))


async def test_removing_everything_but_an_ancient_rating_clamps_at_zero(store30: SqlStore) -> None:
    s = store30
    await answered_call(s, "old")
    await answered_call(s, "new", number="+15550002")
    await s.record_evaluation("old", "client_to_agent", {"attitude": 3}, "ivr", day(0))
    # 40 000 days later the old rating weighs 2^-1333: nothing. Add and remove a fresh one.
    await s.record_evaluation("new", "client_to_agent", {"attitude": 5}, "ivr", day(40_000))
    await s.delete_evaluation("new", "client_to_agent", "admin", "test", day(40_000))
    summary = await s.agent_summary("1001", now=day(40_000))
    stat = summary.per_category["attitude"]
    assert (stat.n, stat.total) == (1, 3)
    assert stat.decayed_n >= 0.0
    assert stat.decayed_total >= 0.0
    assert summary.decayed_overall_mean is None or 1.0 <= summary.decayed_overall_mean <= 5.0
    assert await s.check_invariants() == []


async def test_decay_off_keeps_decayed_equal_to_plain(store: SqlStore) -> None:
    await answered_call(store, "u1")
    await store.record_evaluation("u1", "client_to_agent", {"attitude": 4, "knowledge": 2}, "ivr", day(0))
    summary = await store.agent_summary("1001", now=day(10_000))
    assert summary.decayed_count == summary.count
    assert (summary.decayed_score_count, summary.decayed_score_total) == (summary.score_count, summary.score_total)
    assert summary.decayed_overall_mean == summary.overall_mean
    for stat in summary.per_category.values():
        assert (stat.decayed_n, stat.decayed_total, stat.decayed_mean) == (stat.n, stat.total, stat.mean)


async def test_changing_the_half_life_at_open_recomputes_once(
    place: StoreUrl, caplog: pytest.LogCaptureFixture
) -> None:
    async with await serving(place, half_life_days=30) as s:
        await seed(s)
        call = await answered_call(s, "u1")
        await answered_call(s, "u2", number="+15550002")
        await s.record_evaluation("u1", "client_to_agent", {"attitude": 5}, "ivr", day(0))
        await s.record_evaluation("u2", "client_to_agent", {"attitude": 1, "knowledge": 2}, "ivr", day(20))
        await s.record_evaluation("u1", "agent_to_client", {"attitude": 4}, "1001", day(3))
    live = [Given({"attitude": 5}, day(0)), Given({"attitude": 1, "knowledge": 2}, day(20))]
    assert call.client_id is not None

    for half_life in (90.0, None, 7.5):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=RATINGS_LOG):
            async with await serving(place, half_life_days=half_life) as s:
                assert s.half_life_days == half_life
                assert_decayed(await s.agent_summary("1001", now=day(50)), live, day(50), half_life)
                client = await s.client_summary(call.client_id, now=day(50))
                assert_decayed(client, [Given({"attitude": 4}, day(3))], day(50), half_life)
                assert await s.check_invariants() == []
        assert "recomputed the decayed sums of 5 rating totals rows" in caplog.text
    # The same half-life again: nothing to do, nothing logged.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=RATINGS_LOG):
        async with await serving(place, half_life_days=7.5) as s:
            assert await s.check_invariants() == []
    assert "recomputed" not in caplog.text


async def test_the_service_keeps_rating_after_another_process_changes_the_half_life(
    place: StoreUrl, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #9: another process (then: any CLI command) opened the database with another half-life, which
    recomputed the sums for it and recorded it; the running service's next rating raised StoreError."""
    async with await serving(place, half_life_days=30) as service:
        await seed(service)
        await answered_call(service, "u1")
        await answered_call(service, "u2", number="+15550002")
        await service.record_evaluation("u1", "client_to_agent", {"attitude": 5}, "ivr", day(0))
        async with await serving(place, half_life_days=60) as other:
            assert await other.rating_half_life() == 60
            # the service's handle now reads sums kept for 60 days: it carries them forward with 60, not its 30
            read = await service.agent_summary("1001", now=day(9))
            assert_decayed(read, [Given({"attitude": 5}, day(0))], day(9), 60)
            assert await service.check_invariants() == [
                "settings: decayed totals are kept for half-life '60.0', the service is configured with '30.0' "
                "(it puts its own back at its next write)"
            ]
        with caplog.at_level(logging.WARNING, logger=RATINGS_LOG):
            await service.record_evaluation("u2", "client_to_agent", {"attitude": 1}, "ivr", day(10))
        assert "changed to 60.0 days by another process; this service keeps 30.0 days" in caplog.text
        assert await service.rating_half_life() == 30
        live = [Given({"attitude": 5}, day(0)), Given({"attitude": 1}, day(10))]
        assert_decayed(await service.agent_summary("1001", now=day(40)), live, day(40), 30)
        assert await service.check_invariants() == []
        # and again the other way round, for a delete
        async with await serving(place, half_life_days=None):
            pass
        assert await service.delete_evaluation("u1", "client_to_agent", "admin", "test", day(11)) is not None
        assert await service.rating_half_life() == 30
        assert await service.check_invariants() == []


async def test_an_operator_handle_follows_the_recorded_half_life_and_never_changes_it(place: StoreUrl) -> None:
    async with await serving(place, half_life_days=30) as service:
        await seed(service)
        await answered_call(service, "u1")
        await answered_call(service, "u2", number="+15550002")
        await service.record_evaluation("u1", "client_to_agent", {"attitude": 5}, "ivr", day(0))
        await service.record_evaluation("u2", "client_to_agent", {"attitude": 2}, "ivr", day(1))
        async with await existing(place, readonly=False) as operator:
            assert operator.half_life_days is None
            assert await operator.rating_half_life() == 30
            assert await operator.delete_evaluation("u2", "client_to_agent", "operator:ops", "abuse", day(2))
            assert await operator.check_invariants() == []
        async with await migrated(place) as migrating:
            assert await migrating.rating_half_life() == 30
        assert await service.check_invariants() == []
        assert_decayed(await service.agent_summary("1001", now=day(5)), [Given({"attitude": 5}, day(0))], day(5), 30)


async def test_a_bad_recorded_half_life_is_one_clear_error(place: StoreUrl) -> None:
    async with await migrated(place) as s:
        await seed(s)
        await answered_call(s, "u1")
        await s.record_evaluation("u1", "client_to_agent", {"attitude": 5}, "ivr", day(0))
        async with s.sql.transaction() as conn:
            await conn.execute("UPDATE settings SET value = 'soon' WHERE key = 'rating_half_life_days'")
        bad = "rating_half_life_days is 'soon', not 'off' or a half-life in days"
        with pytest.raises(StoreError, match=bad):
            await s.agent_summary("1001")
        with pytest.raises(StoreError, match=bad):
            await s.delete_evaluation("u1", "client_to_agent", "admin", "test", day(1))


def test_half_life_must_be_positive_or_off() -> None:
    for off in (None, 0, float("inf")):
        assert Decay(off).off
        assert Decay(off).setting == "off"
    assert Decay(30).setting == "30.0"
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="half_life_days"):
            Decay(bad)


async def test_open_refuses_a_negative_half_life(place: StoreUrl) -> None:
    with pytest.raises(ValueError, match="half_life_days must be positive"):
        await serving(place, half_life_days=-1)
    if place.backend == "sqlite":
        assert not Path(place.target).exists()  # refused before anything was opened


async def test_migration_3_initialises_the_decayed_columns_from_schema_2(tmp_path: Path) -> None:
    """SQLite only: its schema 3 added the decayed columns to existing data (PostgreSQL started with them)."""
    path = tmp_path / "cc.db"
    async with await Database.open(path) as db:
        assert await migrate(db, bundled_migrations()[:2]) == (0, 2)
        old = SqliteStore(db)
        await seed(old)  # roster, clients and calls are unchanged by schema 3
        c1 = await answered_call(old, "u1", agent="1002")
        await answered_call(old, "u2", agent="1002", number="+15550002")
        await answered_call(old, "u3", agent="1002", number="+15550003")
        # Evaluations as schema-2 code wrote them: rows plus integer totals. u3's is deleted.
        async with db.transaction() as conn:
            for call_uniqueid, direction, updated, deleted, scores in (
                ("u1", "client_to_agent", day(0), None, {"attitude": 5, "knowledge": 3}),
                ("u2", "client_to_agent", day(10), None, {"attitude": 2}),
                ("u3", "client_to_agent", day(40), day(40), {"attitude": 1}),
                ("u1", "agent_to_client", day(4), None, {"knowledge": 4}),
            ):
                cursor = await conn.execute(
                    "INSERT INTO evaluations (call_id, direction, agent_id, client_id, created_at, updated_at, "
                    "deleted_at) SELECT id, ?, agent_id, client_id, ?, ?, ? FROM calls WHERE uniqueid = ?",
                    (
                        direction,
                        day(0).isoformat(timespec="microseconds"),
                        stamp(updated),
                        stamp(deleted),
                        call_uniqueid,
                    ),
                )
                await conn.executemany(
                    "INSERT INTO evaluation_scores VALUES (?, ?, ?)",
                    [(cursor.lastrowid, c, v) for c, v in scores.items()],
                )
            await conn.executemany(
                "INSERT INTO agent_rating_totals VALUES ('1002', ?, ?, ?)",
                [("attitude", 2, 7), ("knowledge", 1, 3), ("*", 2, 10)],
            )
            await conn.executemany(
                "INSERT INTO client_rating_totals VALUES (?, ?, ?, ?)",
                [(c1.client_id, "knowledge", 1, 4), (c1.client_id, "*", 1, 4)],
            )

        assert await migrate(db) == (2, len(bundled_migrations()))
        async with db.read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT category_id, n, total, dn, dtotal, as_of FROM agent_rating_totals ORDER BY category_id"
            )
            setting = await conn.execute_fetchall("SELECT key, value FROM settings")
        assert [tuple(r) for r in rows] == [
            ("*", 2, 10, 2.0, 10.0, stamp(day(10))),
            ("attitude", 2, 7, 2.0, 7.0, stamp(day(10))),
            ("knowledge", 1, 3, 1.0, 3.0, stamp(day(0))),  # as of its newest rating, not the subject's
        ]
        assert [tuple(r) for r in setting] == [("rating_half_life_days", "off")]
        # Migrated data with decay off is consistent as it stands.
        assert await SqliteStore(db).check_invariants() == []

    # Opening with a half-life recomputes them from the evaluations.
    live = [Given({"attitude": 5, "knowledge": 3}, day(0)), Given({"attitude": 2}, day(10))]
    async with await SqliteStore.open(path, half_life_days=14) as s:
        assert await schema_version(s.db) == len(bundled_migrations())
        assert_decayed(await s.agent_summary("1002", now=day(30)), live, day(30), 14)
        assert await s.check_invariants() == []


def stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="microseconds")


async def test_check_invariants_reports_tampered_decayed_sums(store30: SqlStore) -> None:
    s = store30
    await answered_call(s, "u1")
    await s.record_evaluation("u1", "client_to_agent", {"attitude": 4}, "ivr", day(1))
    async with s.sql.transaction() as conn:
        await conn.execute(
            "UPDATE agent_rating_totals SET dtotal = dtotal * 1.001 WHERE agent_id = '1001' AND category_id = '*'"
        )
        await conn.execute(
            "UPDATE agent_rating_totals SET as_of = ? WHERE agent_id = '1001' AND category_id = 'attitude'",
            (day(0),),
        )
    assert await s.check_invariants() == [
        "agent_rating_totals: agent_id 1001 category '*' stores decayed n=1 total=4.004 as of "
        f"{stamp(day(1))}, evaluations give n=1 total=4",
        f"agent_rating_totals: agent_id 1001 category 'attitude' is as of {stamp(day(0))}, but counts a rating "
        f"given at {stamp(day(1))}",
    ]


# --- property: random operations at random (even backwards) times keep every invariant ----------------------

ANSWERED = {"c1": ("1001", "+15550001"), "c2": ("1001", "+15550002"), "c3": ("1002", "+15550001")}

Key = tuple[str, Direction]


@dataclass(frozen=True)
class Op:
    kind: str  # record | delete
    call: str
    direction: Direction
    days: float
    scores: dict[str, int]


ops_st = st.lists(
    st.builds(
        Op,
        st.sampled_from(["record", "record", "delete"]),
        st.sampled_from(tuple(ANSWERED)),
        st.sampled_from(DIRECTIONS),
        st.floats(0.0, 1000.0),
        st.dictionaries(st.sampled_from(CATEGORY_IDS), st.integers(1, 5), min_size=1),
    ),
    max_size=25,
)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=50,
    deadline=None,
    # the fixture is the session's server (or none): nothing an example could leave behind for the next one
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=ops_st, half_life=st.sampled_from([None, 0.5, 30.0, 365.0]), read_day=st.floats(0.0, 2000.0))
def test_random_operations_at_random_times_keep_decayed_totals_exact(
    backend: str, request: pytest.FixtureRequest, ops: list[Op], half_life: float | None, read_day: float
) -> None:
    asyncio.run(run(server_for(backend, request), ops, half_life, day(read_day)))


async def run(server: PostgresServer | None, ops: list[Op], half_life: float | None, read_at: datetime) -> None:
    async with fresh_store(server, half_life_days=half_life) as s:
        await seed(s)
        clients: dict[str, int] = {}
        for uniqueid, (agent, number) in ANSWERED.items():
            call = await answered_call(s, uniqueid, number=number, agent=agent)
            assert call.client_id is not None
            clients[number] = call.client_id
        live: dict[Key, Given] = {}
        for op in ops:
            key, now = (op.call, op.direction), day(op.days)
            if op.kind == "delete":
                await s.delete_evaluation(op.call, op.direction, "admin", "test", now)
                live.pop(key, None)
            else:
                await s.record_evaluation(op.call, op.direction, op.scores, "actor", now)
                if key not in live or dict(live[key].scores) != op.scores:
                    live[key] = Given(dict(op.scores), now)

        assert await s.check_invariants() == []
        # Rows move forward only, so reading is exact for a read time after every change.
        latest = max([read_at, *(day(op.days) for op in ops)])
        for agent in ("1001", "1002", "1003"):
            given = [g for (c, d), g in live.items() if d == "client_to_agent" and ANSWERED[c][0] == agent]
            assert_decayed(await s.agent_summary(agent, now=latest), given, latest, half_life)
        for number, client_id in clients.items():
            given = [g for (c, d), g in live.items() if d == "agent_to_client" and ANSWERED[c][1] == number]
            assert_decayed(await s.client_summary(client_id, now=latest), given, latest, half_life)
