"""SQLite's migrations (0001-0006, PRAGMA user_version, its statement splitter): SQLite only, except the schema's
own guards, which both backends' schemas must have (PostgreSQL's migrations: test_postgres.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.store.errors import MigrationError, SchemaTooNewError, StoreError
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite import SqliteStore
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.migrate import Migration, bundled_migrations, migrate, schema_version, split_statements
from tests.unit.store.helpers import T0, answered_call, seed

TABLES = {
    "agent_presence",
    "agent_presence_log",
    "pin_failures",
    "agent_queues",
    "agent_rating_totals",
    "agent_services",
    "agents",
    "calls",
    "categories",
    "client_rating_totals",
    "clients",
    "evaluation_audit",
    "evaluation_scores",
    "evaluations",
    "services",
    "settings",
    "operators",
    "web_sessions",
    "web_codes",
    "screenings",
    "agent_reservations",
    "reservation_log",
    "node_heartbeats",
}


async def tables(db: Database) -> set[str]:
    async with db.read() as conn:
        rows = await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {row[0] for row in rows}


async def test_bundled_migrations_are_found_in_order() -> None:
    migrations = bundled_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "0001_initial.sql"


async def test_migrate_from_empty_then_again_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path) as db:
        latest = len(bundled_migrations())
        assert await migrate(db) == (0, latest)
        assert await tables(db) == TABLES
        assert await migrate(db) == (latest, latest)
    # A fresh connection (a restart) sees the same version and migrates nothing.
    async with await Database.open(path) as db:
        assert await schema_version(db) == latest
        assert await migrate(db) == (latest, latest)


async def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path) as db:
        await migrate(db)
        async with db.transaction() as conn:
            await conn.execute("PRAGMA user_version = 99")
        with pytest.raises(
            SchemaTooNewError, match=rf"schema version 99.*only knows versions up to {len(bundled_migrations())}"
        ):
            await migrate(db)
        assert await schema_version(db) == 99


async def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "0002_b.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    async with await Database.open(tmp_path / "cc.db") as db:
        with pytest.raises(MigrationError, match=r"migration 0002_b.sql failed \(no such table: nowhere\)"):
            await migrate(db, [good, bad])
        assert await schema_version(db) == 1
        assert await tables(db) == {"a"}  # b was rolled back with its migration
        fixed = Migration(2, "0002_b.sql", "CREATE TABLE b (x INTEGER);")
        assert await migrate(db, [good, fixed]) == (1, 2)
        assert await tables(db) == {"a", "b"}


async def test_numbering_gaps_are_rejected() -> None:
    async with await Database.open(":memory:") as db:
        with pytest.raises(MigrationError, match="expected 2"):
            await migrate(db, [Migration(1, "0001_a.sql", ""), Migration(3, "0003_c.sql", "")])
        assert await schema_version(db) == 0


def test_split_statements_keeps_triggers_and_quoted_semicolons_whole() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER t_guard BEFORE DELETE ON t
    BEGIN
        SELECT RAISE(ABORT, 'no; never');
    END;
    INSERT INTO t VALUES ('c;d')
    """
    statements = list(split_statements(script))
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")
    assert statements[2] == "INSERT INTO t VALUES ('c;d')\n    ;"
    with pytest.raises(MigrationError, match="incomplete"):
        list(split_statements("CREATE TRIGGER x BEFORE DELETE ON t BEGIN SELECT 1;"))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM evaluation_audit", "audit rows are never deleted"),
        ("UPDATE evaluation_audit SET actor = 'x'", "audit rows are never changed"),
        ("DELETE FROM evaluations", "evaluations are never deleted"),
    ],
)
async def test_audit_rows_and_evaluations_cannot_be_deleted(store: SqlStore, sql: str, message: str) -> None:
    """Both backends: the schema itself refuses, whatever code runs against it (a StoreError, not a driver's)."""
    await answered_call(store, "u1")
    await store.record_evaluation("u1", "client_to_agent", {"attitude": 4}, "ivr", T0)
    with pytest.raises(StoreError, match=f"refused the change: {message}"):
        async with store.sql.transaction() as conn:
            await conn.execute(sql)
    assert len(await store.evaluation_history(1)) == 1


async def test_upgrading_to_presence_keeps_existing_agents_on_duty(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "cc.db") as db:
        before_presence = bundled_migrations()[:3]
        await migrate(db, before_presence)
        store = SqliteStore(db)
        await seed(store)  # agents as an older callcenter knew them: always queue members
        await migrate(db)
        presence = await store.get_presence(["1001", "1002", "1003"])
        assert {a: (p.state, p.actor) for a, p in presence.items()} == dict.fromkeys(
            ("1001", "1002", "1003"), ("available", "migration")
        )
