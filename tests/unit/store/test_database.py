"""What every backend's Database promises the repositories (callcenter/store/sql/connection.py): transactions
commit or roll back whole, are never nested, survive cancellation, and reads never see uncommitted writes; the
Conn translates instants, IN lists and ids the same way on both."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest

from callcenter.store.errors import StoreError
from callcenter.store.sql.connection import Database
from callcenter.store.timestamps import from_db
from tests.unit.store.helpers import T0, at


class BoomError(Exception):
    pass


async def insert_then_fail(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
        raise BoomError


async def count(db: Database, subject: str = "s") -> int:
    async with db.read() as conn:
        return int(await conn.fetch_value("SELECT COUNT(*) FROM pin_failures WHERE subject = ?", (subject,)))


async def test_a_transaction_commits_or_rolls_back_whole(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
    with pytest.raises(BoomError):
        await insert_then_fail(db)
    assert await count(db) == 1
    # the failed transaction released everything: the next one goes through
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
    assert await count(db) == 2


async def test_nested_transaction_is_an_error_not_a_deadlock(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(RuntimeError, match="nested"):
            async with db.read():
                pass
        with pytest.raises(RuntimeError, match="nested"):
            async with db.transaction():
                pass
    async with db.read():
        with pytest.raises(RuntimeError, match="nested"):
            async with db.transaction():
                pass


async def test_a_cancelled_transaction_rolls_back_and_releases_the_lock(db: Database) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await count(db) == 0
    async with asyncio.timeout(5), db.transaction() as conn:  # the write lock is free again
        await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
    assert await count(db) == 1


async def test_a_transaction_cancelled_in_its_first_statement_is_whole_or_nothing(db: Database) -> None:
    """Cancelled while its first statement runs (on PostgreSQL's server; SQLite's inline statements cannot be
    interrupted, so there it finishes): afterwards it either committed whole or left nothing, and the next
    transaction starts normally (nothing of the cancelled one left open)."""
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c"
    started = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as conn:
            started.set()
            await conn.fetch_value(slow)
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))

    task = asyncio.create_task(writer())
    await started.wait()
    task.cancel()
    cancelled = False
    try:
        await task
    except asyncio.CancelledError:
        cancelled = True
    assert await count(db) == (0 if cancelled else 2)
    async with asyncio.timeout(30), db.transaction() as conn:  # no "transaction within a transaction"
        await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
    assert await count(db) == (1 if cancelled else 3)


async def test_reads_never_see_an_uncommitted_write(db: Database) -> None:
    release = asyncio.Event()
    inserted = asyncio.Event()

    async def writer(fail: bool) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO pin_failures (subject, at) VALUES ('s', ?)", (T0,))
            inserted.set()
            await release.wait()
            if fail:
                raise BoomError

    for fail, expected in ((True, 0), (False, 1)):
        release.clear()
        inserted.clear()
        write = asyncio.create_task(writer(fail))
        await inserted.wait()
        # SQLite: the read waits for the writer (one connection); PostgreSQL: it reads the snapshot before it
        read = asyncio.create_task(count(db))
        await asyncio.sleep(0.02)
        release.set()
        await asyncio.gather(write, return_exceptions=True)
        assert await read in (0, expected)
        assert await count(db) == expected


async def test_a_closed_database_says_so(db: Database) -> None:
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        async with db.read():
            pass
    await db.close()  # idempotent


async def test_conn_ids_rowcounts_in_lists_and_instants(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    stamps = [at(n + 0.000001 * n) for n in range(1200)]
    async with db.transaction() as conn:
        first = await conn.insert("INSERT INTO pin_failures (subject, at) VALUES (?, ?)", ("a", stamps[0]))
        second = await conn.insert("INSERT INTO pin_failures (subject, at) VALUES (?, ?)", ("a", T0.astimezone(berlin)))
        assert second > first
        await conn.execute_many(
            "INSERT INTO pin_failures (subject, at) VALUES (?, ?)", [(f"k{n}", s) for n, s in enumerate(stamps)]
        )
        await conn.execute_many("INSERT INTO pin_failures (subject, at) VALUES (?, ?)", [])
        assert await conn.execute("DELETE FROM pin_failures WHERE subject = ?", ("a",)) == 2
        assert await conn.execute("DELETE FROM pin_failures WHERE subject = 'nobody'") == 0
    keys = [f"k{n}" for n in range(1200)]  # more than SQLite's chunk of host parameters
    async with db.read() as conn:
        rows = await conn.fetch_in(
            "SELECT subject, at FROM pin_failures WHERE at >= ? AND subject {in_keys}", keys, (T0,)
        )
        assert await conn.fetch_in("SELECT subject FROM pin_failures WHERE subject {in_keys}", []) == []
        assert await conn.fetch_one("SELECT subject FROM pin_failures WHERE subject = 'nobody'") is None
        assert await conn.fetch_value("SELECT subject FROM pin_failures WHERE subject = 'nobody'") is None
    # every instant back as it went in, to the microsecond, in UTC (the raw value: text on SQLite)
    assert sorted((row["subject"], from_db(row["at"])) for row in rows) == sorted(zip(keys, stamps, strict=True))


async def test_query_and_query_in_read_one_statement_without_a_transaction(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute_many(
            "INSERT INTO pin_failures (subject, at) VALUES (?, ?)", [(f"q{n}", T0) for n in range(700)]
        )
    rows = await db.query("SELECT COUNT(*) AS n FROM pin_failures WHERE subject LIKE ?", ("q%",))
    assert rows[0]["n"] == 700
    few = await db.query_in("SELECT subject FROM pin_failures WHERE at = ? AND subject {in_keys}", ["q1", "q2"], (T0,))
    assert sorted(row["subject"] for row in few) == ["q1", "q2"]
    keys = [f"q{n}" for n in range(650)]  # more than one statement's worth on SQLite: a read() of several
    assert len(await db.query_in("SELECT subject FROM pin_failures WHERE subject {in_keys}", keys)) == 650
    assert await db.query_in("SELECT subject FROM pin_failures WHERE subject {in_keys}", []) == []
