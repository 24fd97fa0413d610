"""PostgreSQL only: its migrations, its errors as the store's, and writers in several processes at once.

Everything the backends share is in the contract suite (the other test modules, run on both); this is what only a
server database has: a schema version table, other sessions holding the write lock, connections that die, servers
that are not there, and serving processes that race on one database.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from callcenter.store.errors import (
    MigrationError,
    SchemaTooNewError,
    SchemaTooOldError,
    StoreBusyError,
    StoreError,
    StoreUnavailableError,
)
from callcenter.store.models import DIRECTIONS
from callcenter.store.postgres import PostgresStore
from callcenter.store.postgres.conn import numbered
from callcenter.store.postgres.db import WRITE_LOCK, Database
from callcenter.store.postgres.migrate import bundled_migrations, migrate, schema_version
from callcenter.store.sqlite.db import Database as SqliteRaw
from callcenter.store.sqlite.migrate import Migration
from callcenter.store.sqlite.migrate import migrate as sqlite_migrate
from tests.postgres import PostgresServer, free_port
from tests.unit.store.helpers import T0, answered_call, at, seed


@pytest.fixture
async def empty(postgres: PostgresServer) -> AsyncIterator[str]:
    """The URL of a place with nothing in it, not even a schema version."""
    url = await postgres.new_place(migrated=False)
    yield url
    await postgres.release(url)


@pytest.fixture
async def pg(postgres: PostgresServer) -> AsyncIterator[PostgresStore]:
    url = await postgres.new_place()
    async with await PostgresStore.open(url, busy_timeout_ms=300, half_life_days=30) as store:
        await seed(store)
        yield store
    await postgres.release(url)


async def columns(db: Database) -> dict[str, list[str]]:
    async with db.read() as conn:
        rows = await conn.fetch_all(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], []).append(row["column_name"])
    return found


# --- migrations ---------------------------------------------------------------------------------------------------


async def test_migrate_from_empty_then_again_is_a_no_op(empty: str) -> None:
    latest = len(bundled_migrations())
    async with await Database.open(empty) as db:
        assert await schema_version(db) == 0
        assert await migrate(db) == (0, latest)
        assert await migrate(db) == (latest, latest)
    async with await Database.open(empty) as db:  # a restart sees the same version
        assert await schema_version(db) == latest


async def test_the_schema_has_sqlites_tables_and_columns(empty: str, tmp_path: Path) -> None:
    """One set of shared repositories and `db copy` need the same tables and columns on both (types differ)."""
    async with await Database.open(empty) as db:
        await migrate(db)
        found = await columns(db)
    async with await SqliteRaw.open(tmp_path / "cc.db") as lite:
        await sqlite_migrate(lite)
    conn = sqlite3.connect(tmp_path / "cc.db")
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        expected = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()
    assert found.pop("schema_version") == ["singleton", "version"]
    assert {t: sorted(c) for t, c in found.items()} == {t: sorted(c) for t, c in expected.items()}


async def test_two_processes_migrating_at_once_apply_each_step_once(empty: str) -> None:
    async with await Database.open(empty) as one, await Database.open(empty) as two:
        results = await asyncio.gather(migrate(one), migrate(two))
        latest = len(bundled_migrations())
        assert sorted(results) == [(0, latest), (0, latest)]
        assert await schema_version(one) == len(bundled_migrations())


async def test_a_failing_migration_leaves_the_previous_version(empty: str) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x integer);")
    bad = Migration(2, "0002_b.sql", "CREATE TABLE b (x integer);\nINSERT INTO nowhere VALUES (1);")
    async with await Database.open(empty) as db:
        with pytest.raises(MigrationError, match=r'migration 0002_b.sql failed \(relation "nowhere" does not exist\)'):
            await migrate(db, [good, bad])
        assert await schema_version(db) == 1
        assert set(await columns(db)) == {"a", "schema_version"}  # b went with its migration
        assert await migrate(db, [good, Migration(2, "0002_b.sql", "CREATE TABLE b (x integer);")]) == (1, 2)


async def test_newer_and_older_schemas_are_refused_in_one_line(empty: str) -> None:
    latest = len(bundled_migrations())
    for readonly in (True, False):
        with pytest.raises(SchemaTooOldError) as old:
            await PostgresStore.open_existing(empty, readonly=readonly)
        assert str(old.value) == (
            f"database {empty} is at schema version 0, this callcenter needs version {latest}: "
            "run `callcenter db migrate` (the service also migrates when it starts)"
        )
    async with await Database.open(empty) as db:
        assert await schema_version(db) == 0  # nothing was created on the way
        await migrate(db)
        async with db.transaction() as conn:
            await conn.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(SchemaTooNewError, match=rf"schema version 99.*only knows versions up to {latest}"):
            await migrate(db)
    with pytest.raises(SchemaTooNewError, match="schema version 99, this callcenter knows versions up to"):
        await PostgresStore.open_existing(empty)


# --- the server refuses, and the errors are the store's -------------------------------------------------------------


async def test_a_read_only_handle_is_refused_by_the_server_itself(pg: PostgresStore, postgres: PostgresServer) -> None:
    async with await PostgresStore.open_existing(pg.db.name) as reader:
        with pytest.raises(StoreError, match="open read-only"):
            await reader.set_presence("1001", "available", None, actor="x", via="cli", now=T0)
        # even a write slipped into a read: default_transaction_read_only
        with pytest.raises(StoreError, match="read-only transaction"):
            async with reader.sql.read() as conn:
                await conn.execute("DELETE FROM pin_failures")
        assert len(await reader.list_agents()) == 3


async def test_another_session_holding_the_write_lock_gives_store_busy(pg: PostgresStore) -> None:
    other = await asyncpg.connect(pg.db.name)
    try:
        await other.execute("BEGIN")
        await other.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        with pytest.raises(StoreBusyError, match="stayed locked by another writer for 300 ms"):
            await pg.client_for_number("+15550001", now=T0)
        assert await pg.find_client("+15550001") is None  # reads go on meanwhile
        await other.execute("ROLLBACK")
    finally:
        await other.close()
    assert await pg.client_for_number("+15550001", now=T0) is not None


async def test_a_connection_lost_mid_transaction_is_store_unavailable(
    pg: PostgresStore, postgres: PostgresServer
) -> None:
    admin = await asyncpg.connect(pg.db.name)

    async def killed_half_way() -> None:
        async with pg.sql.transaction() as conn:
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
            pid = await conn.fetch_value("SELECT pg_backend_pid()")
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))

    try:
        with pytest.raises(StoreUnavailableError, match="cannot take writes"):
            await killed_half_way()
    finally:
        await admin.close()
    # nothing of it stayed, the lock went with the connection, and the pool replaced it
    assert await pg.pin_failures("s", T0) == 0
    assert await pg.record_pin_attempt("s", right=False, now=T0, since=T0, max_failures=3) == "wrong"


async def test_a_server_that_stops_answering_is_store_unavailable_within_the_serving_timeout(
    pg: PostgresStore,
) -> None:
    """A stalled server (its backends stopped, as a hung host would be): every write of the serving process ends
    as StoreUnavailableError or StoreBusyError, the only errors the IVR's journal keeps, within the busy timeout
    plus the serving slack; never asyncpg's own TimeoutError from the pool's release, never a minute's silence."""
    async with pg.sql.read() as conn:
        pid = await conn.fetch_value("SELECT pg_backend_pid()")
    loop = asyncio.get_running_loop()
    os.kill(pid, signal.SIGSTOP)
    try:
        started = loop.time()
        # writes only: a known caller's lookup is a read now, which another pooled connection answers
        writes = [pg.start_call(f"stalled-{i}", f"stalled-{i}", None, None, T0) for i in range(3)]
        results = await asyncio.gather(*writes, return_exceptions=True)
        waited = loop.time() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert all(isinstance(r, StoreUnavailableError | StoreBusyError) for r in results), results
    # 0.3 s busy timeout + 2 s slack, the release's cancellation bounded too; far from the operators' 60 s
    assert waited < 20
    assert await pg.client_for_number("+15550009", now=T0) is not None  # the pool replaced the stopped one


async def test_a_server_that_is_not_there_is_store_unavailable() -> None:
    url = f"postgresql://callcenter@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(StoreUnavailableError, match=f"cannot open database {url}: "):
        await PostgresStore.open(url)


async def test_a_database_that_does_not_exist_is_one_line_with_the_fix(postgres: PostgresServer) -> None:
    url = postgres.url("no_such_database")
    with pytest.raises(StoreError, match=r'database "no_such_database" does not exist: `createdb` it first') as e:
        await PostgresStore.open_migrated(url)
    assert not isinstance(e.value, StoreUnavailableError)


def test_placeholders_are_numbered_outside_quotes_and_comments() -> None:
    assert numbered("SELECT ? -- why?\n, '?' , \"a?\" FROM t WHERE a = ? AND b IN (?, ?)") == (
        "SELECT $1 -- why?\n, '?' , \"a?\" FROM t WHERE a = $2 AND b IN ($3, $4)"
    )


# --- several serving processes on one database ------------------------------------------------------------------

CALLS = 12
PROCESSES = 4
ROUNDS = 3


def race(url: str, worker: int) -> int:
    """One serving process: its own pool, rating and unrating every call both ways in its own shuffled order."""
    return asyncio.run(_race(url, worker))


async def _race(url: str, worker: int) -> int:
    rng = random.Random(worker)
    done = 0
    async with await PostgresStore.open(url, busy_timeout_ms=30_000, half_life_days=30) as store:
        steps = [(c, d, r) for c in range(CALLS) for d in DIRECTIONS for r in range(ROUNDS)]
        rng.shuffle(steps)
        for call, direction, r in steps:
            uniqueid = f"race-{call}"
            if rng.random() < 0.2:
                await store.delete_evaluation(uniqueid, direction, f"agent:w{worker}", "race", at(100 + r))
            else:
                scores = {"attitude": rng.randint(1, 5), "knowledge": rng.randint(1, 5)}
                await store.record_evaluation(uniqueid, direction, scores, f"w{worker}", at(100 + r + worker))
            done += 1
    return done


async def test_writers_in_several_processes_keep_one_evaluation_per_call_and_every_change_audited(
    pg: PostgresStore,
) -> None:
    for call in range(CALLS):
        await answered_call(pg, f"race-{call}", number=f"+1555100{call:02d}", agent=("1001", "1002")[call % 2])
    context = multiprocessing.get_context("spawn")  # each process with its own interpreter, loop and pool
    loop = asyncio.get_running_loop()
    with context.Pool(PROCESSES) as pool:
        done = await loop.run_in_executor(None, lambda: pool.starmap(race, [(pg.db.name, w) for w in range(PROCESSES)]))
    assert done == [CALLS * len(DIRECTIONS) * ROUNDS] * PROCESSES

    evaluations = await pg.list_evaluations(include_deleted=True)
    keys = [(e.call_uniqueid, e.direction) for e in evaluations]
    assert len(keys) == len(set(keys))  # one per call per direction, however they raced
    assert {e.call_uniqueid for e in evaluations} <= {f"race-{c}" for c in range(CALLS)}
    for e in evaluations:
        trail = await pg.evaluation_history(e.id)
        # every change audited, in order, each one starting from the state the previous one left: a lost update
        # (two writers reading the same old scores) would break the chain
        state = None
        for entry in trail:
            assert entry.old_scores == state, (e.call_uniqueid, e.direction, trail)
            state = entry.new_scores
        assert state == (None if e.deleted else e.scores)
    assert await pg.check_invariants() == []  # aggregates equal the rows, exact and decayed
    summaries = await pg.agent_summaries(["1001", "1002"], now=at(1000))
    for agent, s in summaries.items():
        live = [e for e in evaluations if not e.deleted and e.direction == "client_to_agent" and e.agent_id == agent]
        assert s.count == len(live)
        assert s.score_total == sum(sum(e.scores.values()) for e in live)
