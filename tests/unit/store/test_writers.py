"""The writers' queue across processes (callcenter/store/sqlite/writers.py). flock conflicts between open file
descriptions, so two queues on one file in one process behave as two processes would."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callcenter.store.sqlite.conn import SqliteDatabase
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.writers import WriterQueue


async def test_one_turn_at_a_time_and_the_next_starts_when_the_first_ends(tmp_path: Path) -> None:
    first, second = WriterQueue(str(tmp_path / "cc.db")), WriterQueue(str(tmp_path / "cc.db"))
    order: list[str] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def one() -> None:
        async with first.turn(5) as held:
            assert held
            order.append("first in")
            holding.set()
            await release.wait()
            order.append("first out")

    async def two() -> None:
        await holding.wait()
        async with second.turn(5) as held:
            assert held
            order.append("second in")

    tasks = [asyncio.create_task(one()), asyncio.create_task(two())]
    await holding.wait()
    await asyncio.sleep(0.05)  # give the second a chance to get in wrongly
    assert order == ["first in"]
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]


async def test_a_turn_not_had_in_time_says_so_and_its_waiting_thread_lets_go_later(tmp_path: Path) -> None:
    first, second = WriterQueue(str(tmp_path / "cc.db")), WriterQueue(str(tmp_path / "cc.db"))
    async with first.turn(5), second.turn(0.05) as held:
        assert not held
    # the thread left waiting got the lock when the first turn ended, and let it go at once
    async with asyncio.timeout(5), WriterQueue(str(tmp_path / "cc.db")).turn(5) as held:
        assert held


async def test_a_cancelled_wait_holds_nothing(tmp_path: Path) -> None:
    first, second = WriterQueue(str(tmp_path / "cc.db")), WriterQueue(str(tmp_path / "cc.db"))
    async with first.turn(5):
        waiting = asyncio.create_task(second.turn(5).__aenter__())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    async with asyncio.timeout(5), second.turn(5) as held:
        assert held


async def test_two_databases_on_one_file_write_in_turn_and_lose_nothing(tmp_path: Path) -> None:
    """Two processes' worth of writers interleaving 200 transactions through the queue: none fails, none is lost."""
    path = tmp_path / "cc.db"
    async with await Database.open(path, busy_timeout_ms=2000) as a, await Database.open(path) as b:
        async with a.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")

        async def write(db: Database, n: int) -> None:
            for i in range(n):
                async with db.transaction() as conn:
                    await conn.execute("INSERT INTO t VALUES (?)", (i,))
                    await asyncio.sleep(0)  # hold the lock across a turn of the loop, as a repository does

        await asyncio.gather(write(a, 100), write(b, 100))
        assert await _count(a) == 200


async def test_a_transaction_waits_for_the_turn_and_a_stuck_turn_only_delays_it(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path, busy_timeout_ms=200) as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
        other = WriterQueue(str(path))  # another process's turn, with no SQLite transaction behind it
        async with other.turn(5):
            write = asyncio.create_task(_insert(db))
            await asyncio.sleep(0.05)
            assert not write.done()  # queued behind the other turn
        await asyncio.wait_for(write, 5)  # the turn ended: in at once
        async with other.turn(5):
            # held past the busy timeout: the write goes ahead under SQLite's own lock, which is free
            await asyncio.wait_for(_insert(db), 5)
        assert await _count(db) == 2


async def _insert(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")


async def test_a_lock_file_that_cannot_be_opened_does_not_fail_a_write(tmp_path: Path) -> None:
    """The queue is advisory: a lock file made by root for root, a read-only directory, no descriptors left."""
    path = tmp_path / "cc.db"
    async with await Database.open(path) as db:
        await _table(db)
        Path(str(path) + "-writers.lock").unlink(missing_ok=True)
        Path(str(path) + "-writers.lock").mkdir()  # open(O_RDWR) on it fails with EISDIR, whoever runs this
        for _ in range(2):
            await _inline_insert(db)
        assert await _count(db) == 2


async def test_reads_go_on_while_a_write_waits_for_another_processs_turn(tmp_path: Path) -> None:
    path = tmp_path / "cc.db"
    async with await Database.open(path, busy_timeout_ms=5000) as raw:
        db = SqliteDatabase(raw)
        await _table(raw)
        await _inline_insert(raw)
        other = WriterQueue(str(path))
        async with other.turn(5):
            write = asyncio.create_task(_inline_insert(raw))
            await asyncio.sleep(0.05)
            assert not write.done()  # waiting for the other process's turn
            # a known caller's lookup meanwhile: answered at once, not after the write
            rows = await asyncio.wait_for(db.query("SELECT count(*) AS n FROM t"), 1)
            assert rows[0]["n"] == 1
        await asyncio.wait_for(write, 5)


async def _table(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")


async def _inline_insert(db: Database) -> None:
    async with SqliteDatabase(db).transaction() as inline_conn:
        await inline_conn.execute("INSERT INTO t VALUES (1)")


async def _count(db: Database) -> int:
    async with db.read() as conn:
        rows = list(await conn.execute_fetchall("SELECT count(*) FROM t"))
    return int(rows[0][0])
