"""The SQLite Database as the shared repositories see it (``callcenter.store.sql.connection``).

``Database`` (db.py) stays SQLite's own handle, yielding the aiosqlite connection (the benchmarks and the
migrations use it as such); ``SqliteDatabase`` wraps it for the repositories: instants become fixed-width UTC
text on the way in, IN lists become chunks of ``?``, new ids come from ``lastrowid`` (not RETURNING, so SQLite 3.24
is still enough), and a constraint or trigger refusal becomes a StoreError.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar, cast

import aiosqlite

from callcenter.store.errors import StoreError
from callcenter.store.sql.connection import Conn, Params, Row
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.inline import IN_CHUNK, InlineConn, in_lists, params_of

T = TypeVar("T")


class SqliteConn:
    """One aiosqlite connection inside a transaction or read of its Database.

    ``begin``: the BEGIN the Database left to this connection, sent in the same round trip to aiosqlite's thread as
    the first statement (one thread hop and one turn of the event loop fewer per transaction: a call makes about
    twenty, and a write transaction holds the file's write lock for every process across its hops). aiosqlite has
    no public way to run two statements in one round trip; ``_execute`` (queue a function on the connection's
    thread) is what each of its own methods uses, and every store test fails if it goes.
    """

    def __init__(self, conn: aiosqlite.Connection, name: str, begin: str | None = None) -> None:
        self._conn = conn
        self._name = name
        self._begin = begin

    async def _first(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the connection's thread, after the pending BEGIN."""
        begin, self._begin = self._begin, None
        assert begin is not None
        raw = self._conn

        def run() -> T:
            connection: sqlite3.Connection = raw._conn  # aiosqlite's own handle, used on its own thread
            connection.execute(begin)
            return work(connection)

        try:
            result = await _on_thread(raw)(run)  # see the class docstring
        except asyncio.CancelledError:
            # the queued BEGIN still runs after this await is cancelled: a ROLLBACK right behind it (same thread, in
            # order) leaves no transaction open for the next task (a no-op error if BEGIN itself failed)
            with contextlib.suppress(sqlite3.OperationalError):
                await asyncio.shield(raw.execute("ROLLBACK"))
            raise
        return result

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._refusals():
            if self._begin is not None:
                values = _params(params)
                return list(await self._first(lambda c: c.execute(sql, values).fetchall()))
            return list(await self._conn.execute_fetchall(sql, _params(params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    # One round trip to aiosqlite's thread per statement, not two: each one is a turn of the service's event loop,
    # and a write transaction holds SQLite's write lock (for every process on the file) across all of them. So no
    # cursor to close afterwards: the changed rows come from ``total_changes`` (read between round trips, while
    # the connection's thread is idle) and the new id from ``execute_insert``. total_changes also counts rows that
    # triggers change; the schema's triggers only refuse (RAISE), so here it is the statement's own count.
    async def execute(self, sql: str, params: Params = ()) -> int:
        before = self._conn.total_changes
        await self.fetch_all(sql, params)
        return self._conn.total_changes - before

    async def insert(self, sql: str, params: Params = ()) -> int:
        with self._refusals():
            if self._begin is not None:
                values = _params(params)
                rowid = await self._first(lambda c: c.execute(sql, values).lastrowid)
            else:
                row = await self._conn.execute_insert(sql, _params(params))
                rowid = None if row is None else row[0]
        if rowid is None:
            raise RuntimeError(f"INSERT returned no rowid: {sql}")
        return int(rowid)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_params(row) for row in rows]
        if batch:
            with self._refusals():
                if self._begin is not None:
                    await self._first(lambda c: c.executemany(sql, batch).close())
                else:
                    await self._conn.executemany(sql, batch)

    async def fetch_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        found: list[Row] = []
        for statement, values in in_lists(sql, keys, params):
            found += await self.fetch_all(statement, values)
        return found

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" for _ in columns)
        await self.execute_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            # a constraint or trigger said no (the schema's own guard): permanent, not a fault of the database
            raise StoreError(f"database {self._name} refused the change: {exc}") from exc


class SqliteDatabase:
    """Implements ``callcenter.store.sql.connection.Database`` over SQLite's own ``Database``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def raw(self) -> Database:
        return self._db

    @property
    def name(self) -> str:
        return self._db.path

    @property
    def readonly(self) -> bool:
        return self._db.readonly

    # A file database open for writing runs the repositories' statements inline (inline.py says why); an
    # in-memory or read-only one on aiosqlite's thread.
    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        if self._db.inline is not None:
            async with self._db.inline_transaction() as inline_conn:
                yield InlineConn(inline_conn, self._db.path)
            return
        async with self._db.transaction(begun_by_caller=True) as conn:
            yield SqliteConn(conn, self._db.path, begin="BEGIN IMMEDIATE")

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self._db.inline is not None:
            async with self._db.inline_read() as inline_conn:
                yield InlineConn(inline_conn, self._db.path)
            return
        async with self._db.read(begun_by_caller=True) as conn:
            yield SqliteConn(conn, self._db.path, begin="BEGIN")

    async def query(self, sql: str, params: Params = ()) -> list[Row]:
        if self._db.inline is not None:
            return list(await self._db.inline_query(sql, _params(params)))
        # the connection alone (no BEGIN is sent, so nothing is rolled back): the statement runs in autocommit
        async with self._db.read(begun_by_caller=True) as conn:
            return list(await conn.execute_fetchall(sql, _params(params)))

    async def query_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        if len(keys) > IN_CHUNK:
            async with self.read() as conn:
                return await conn.fetch_in(sql, keys, params)
        found: list[Row] = []
        for statement, values in in_lists(sql, keys, params):  # one statement: the keys fit one chunk
            found += await self.query(statement, values)
        return found

    async def close(self) -> None:
        await self._db.close()


def _on_thread(conn: aiosqlite.Connection) -> Callable[[Callable[[], T]], Awaitable[T]]:
    """aiosqlite's ``_execute`` (untyped): queue a function on the connection's thread and await its result."""
    return cast(Callable[[Callable[[], T]], Awaitable[T]], conn._execute)


_params = params_of
