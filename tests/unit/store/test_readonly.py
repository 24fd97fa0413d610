"""Operators' handles on the service's database: never created, never migrated, and read-only ones never written.

The tests taking ``place`` run on both backends; the others are about SQLite's file (PostgreSQL: test_postgres.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from callcenter.store.errors import SchemaTooNewError, SchemaTooOldError, StoreError
from callcenter.store.opening import StoreUrl
from callcenter.store.sqlite import SqliteStore
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.migrate import bundled_migrations, migrate, schema_version
from tests.unit.store.helpers import T0, answered_call, existing, seed, serving


async def scalar(db: Database, sql: str) -> object:
    async with db.read() as conn:
        rows = list(await conn.execute_fetchall(sql))
    return rows[0][0]


@pytest.mark.parametrize("readonly", [True, False])
async def test_an_existing_database_is_never_created(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "state" / "cc.db"
    with pytest.raises(StoreError, match=f"no database at {path}: `callcenter db migrate`"):
        await Database.open(path, create=False, readonly=readonly)
    with pytest.raises(StoreError, match="no database at"):
        await SqliteStore.open_existing(path, readonly=readonly)
    assert not (tmp_path / "state").exists()


async def test_sqlite_itself_refuses_to_write_a_read_only_database(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path) as db, db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
    before = path.read_bytes()
    async with await Database.open(path, readonly=True) as db:
        assert db.readonly
        with pytest.raises(StoreError, match="open read-only: this command must not change it"):
            async with db.transaction():
                pass
        # even a write slipped into a read transaction by mistake
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            async with db.read() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
        assert await scalar(db, "SELECT count(*) FROM t") == 0
    assert path.read_bytes() == before


async def test_a_reader_sees_what_the_running_writer_committed(place: StoreUrl) -> None:
    async with await serving(place) as service:
        await seed(service)
        async with await existing(place) as reader:
            assert await reader.get_call("u1") is None
            await answered_call(service, "u1")
            call = await reader.get_call("u1")
            assert call is not None
            assert call.answered_at is not None
            assert await reader.check_invariants() == []


async def test_an_older_schema_is_one_line_naming_both_versions_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    latest = len(bundled_migrations())
    async with await Database.open(path) as db:
        await migrate(db, bundled_migrations()[:2])
    for readonly in (True, False):
        with pytest.raises(SchemaTooOldError) as refused:
            await SqliteStore.open_existing(path, readonly=readonly)
        assert str(refused.value) == (
            f"database {path} is at schema version 2, this callcenter needs version {latest}: "
            "run `callcenter db migrate` (the service also migrates when it starts)"
        )
    async with await Database.open(path) as db:
        assert await schema_version(db) == 2  # nothing was migrated on the way


async def test_a_newer_schema_is_one_line_too(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    latest = len(bundled_migrations())
    async with await Database.open(path) as db:
        await migrate(db)
        async with db.transaction() as conn:
            await conn.execute(f"PRAGMA user_version = {latest + 1}")
    with pytest.raises(SchemaTooNewError, match=f"schema version {latest + 1}, this callcenter knows versions up to"):
        await SqliteStore.open_existing(path)


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    path.write_bytes(b"definitely not SQLite" * 100)
    with pytest.raises(StoreError, match=f"{path}.*file is not a database"):
        await SqliteStore.open_existing(path)
    assert path.read_bytes() == b"definitely not SQLite" * 100


async def test_a_write_handle_changes_what_it_is_asked_to_and_nothing_else(place: StoreUrl) -> None:
    async with await serving(place) as service:
        await seed(service)
        call = await answered_call(service, "u1")
    assert call.client_id is not None
    async with await existing(place, readonly=False) as operator:
        await operator.set_client_pin(call.client_id, None, T0)
        assert (await operator.client_pin(call.client_id)) == (None, None)


async def test_a_read_only_handle_refuses_every_write_and_changes_nothing(place: StoreUrl) -> None:
    async with await serving(place) as service:
        await seed(service)
        call = await answered_call(service, "u1")
        await service.set_client_pin(call.client_id or 0, "hash", T0)
    async with await existing(place) as reader:
        assert reader.sql.readonly
        with pytest.raises(StoreError, match="open read-only: this command must not change it"):
            await reader.set_client_pin(call.client_id or 0, None, T0)
        with pytest.raises(StoreError, match="open read-only"):
            await reader.record_evaluation("u1", "client_to_agent", {"attitude": 3}, "operator:x", T0)
        assert await reader.client_pin(call.client_id or 0) == ("hash", T0)
        assert await reader.list_evaluations(include_deleted=True) == []
        assert await reader.check_invariants() == []
