"""The SQLite Database as the shared repositories see it (``callcenter.store.sql.connection``).

``Database`` (db.py) stays SQLite's own handle, yielding the aiosqlite connection (the benchmarks and the
migrations use it as such); ``SqliteDatabase`` wraps it for the repositories: instants become fixed-width UTC
text on the way in, IN lists become chunks of ``?``, new ids come from ``lastrowid`` (not RETURNING, so SQLite 3.24
is still enough), and a constraint or trigger refusal becomes a StoreError.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence

import aiosqlite

from callcenter.store.sql.connection import Conn, Params, Row
from callcenter.store.sqlite.db import Database
from callcenter.store.sqlite.inline import IN_CHUNK, InlineConn, SqliteStatements, in_lists, params_of


class SqliteConn(SqliteStatements):
    """One aiosqlite connection inside a transaction or read of its Database (an in-memory or read-only one: a file
    open for writing runs its statements inline, ``InlineConn``)."""

    def __init__(self, conn: aiosqlite.Connection, name: str) -> None:
        self._conn = conn
        self._name = name

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._refusals():
            return list(await self._conn.execute_fetchall(sql, _params(params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

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
            row = await self._conn.execute_insert(sql, _params(params))
        rowid = None if row is None else row[0]
        if rowid is None:
            raise RuntimeError(f"INSERT returned no rowid: {sql}")
        return int(rowid)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_params(row) for row in rows]
        if batch:
            with self._refusals():
                await self._conn.executemany(sql, batch)


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
        async with self._db.transaction() as conn:
            yield SqliteConn(conn, self._db.path)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        if self._db.inline is not None:
            async with self._db.inline_read() as inline_conn:
                yield InlineConn(inline_conn, self._db.path)
            return
        async with self._db.read() as conn:
            yield SqliteConn(conn, self._db.path)

    async def query(self, sql: str, params: Params = ()) -> list[Row]:
        if self._db.inline is not None:
            return list(await self._db.inline_query(sql, _params(params)))
        async with self._db.read() as conn:
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


_params = params_of
