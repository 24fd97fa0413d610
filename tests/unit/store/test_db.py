"""SQLite's own Database (callcenter/store/sqlite/db.py): its file, pragmas, lock and busy timeout. SQLite only;
the transaction semantics every backend shares are in test_database.py."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from callcenter.store.errors import StoreBusyError, StoreError
from callcenter.store.sqlite.db import Database
from callcenter.store.timestamps import from_db, to_db, whole_seconds
from tests.unit.store.helpers import T0, at


class BoomError(Exception):
    pass


async def insert_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (2)")
        raise BoomError


async def scalar(db: Database, sql: str) -> object:
    async with db.read() as conn:
        rows = list(await conn.execute_fetchall(sql))
    return rows[0][0]


async def test_open_creates_the_directory_and_sets_the_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "cc.db"
    async with await Database.open(path, busy_timeout_ms=1234) as db:
        assert path.exists()
        assert db.path == str(path)
        assert await scalar(db, "PRAGMA journal_mode") == "wal"
        assert await scalar(db, "PRAGMA foreign_keys") == 1
        assert await scalar(db, "PRAGMA busy_timeout") == 1234
        assert await scalar(db, "PRAGMA synchronous") == 1  # NORMAL
    with pytest.raises(StoreError, match="closed"):
        async with db.read():
            pass


async def test_memory_database_works_without_wal() -> None:
    async with await Database.open(":memory:") as db:
        assert await scalar(db, "PRAGMA journal_mode") == "memory"
        assert await scalar(db, "PRAGMA foreign_keys") == 1


async def test_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "cc.db") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
            await conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(BoomError):
            await insert_then_fail(db)
        assert await scalar(db, "SELECT group_concat(x) FROM t") == "1"
        # The failed transaction released the lock and left no transaction open.
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (3)")
        assert await scalar(db, "SELECT group_concat(x) FROM t") == "1,3"


async def test_a_failing_commit_rolls_back(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "cc.db") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
            await conn.execute("CREATE TABLE c (p INTEGER REFERENCES p (id) DEFERRABLE INITIALLY DEFERRED)")
        # A deferred foreign key is only checked at COMMIT.
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO c VALUES (42)")
        assert await scalar(db, "SELECT count(*) FROM c") == 0
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO p VALUES (42)")


async def test_nested_transaction_is_an_error_not_a_deadlock() -> None:
    async with await Database.open(":memory:") as db, db.transaction():
        with pytest.raises(RuntimeError, match="nested"):
            async with db.read():
                pass


async def test_cancelled_transaction_rolls_back_and_releases_the_lock(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "cc.db") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
        inside = asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                inside.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(writer())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await scalar(db, "SELECT count(*) FROM t") == 0


async def test_reads_wait_for_an_open_write_and_never_see_it_uncommitted(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "cc.db") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
        release = asyncio.Event()
        inserted = asyncio.Event()

        async def writer(fail: bool) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t VALUES (1)")
                inserted.set()
                await release.wait()
                if fail:
                    raise BoomError

        for fail, expected in ((True, 0), (False, 1)):
            release.clear()
            inserted.clear()
            write = asyncio.create_task(writer(fail))
            await inserted.wait()
            read = asyncio.create_task(scalar(db, "SELECT count(*) FROM t"))
            await asyncio.sleep(0.02)
            assert not read.done()  # blocked behind the writer, not reading its uncommitted row
            release.set()
            await asyncio.gather(write, return_exceptions=True)
            assert await read == expected


async def test_another_process_holding_the_write_lock_gives_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path, busy_timeout_ms=50) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreBusyError, match=r"locked by another writer for 50 ms"):
                async with db.transaction():
                    pass
            # WAL: reads still work while the other process writes.
            assert await scalar(db, "SELECT count(*) FROM t") == 0
            other.execute("INSERT INTO t VALUES (7)")
            other.execute("COMMIT")
        finally:
            other.close()
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (8)")
        assert await scalar(db, "SELECT group_concat(x) FROM t") == "7,8"


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=f"cannot open database {blocker}/cc.db"):
        await Database.open(blocker / "cc.db")


async def test_close_is_idempotent(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "cc.db")
    await db.close()
    await db.close()


def test_timestamps_are_fixed_width_utc_and_round_trip() -> None:
    text = to_db(T0)
    assert text == "2025-03-01T09:00:00.000000+00:00"
    assert from_db(text) == T0
    assert to_db(at(1.5)) > text
    with pytest.raises(ValueError, match="naive"):
        to_db(datetime(2025, 1, 1))
    assert whole_seconds(at(10), at(4)) == 0  # clock skew between producers clamps to zero
    assert whole_seconds(at(0), at(61.6)) == 62
