"""The serving store's statements, run on the event loop's own thread: a plain sqlite3 connection beside aiosqlite's.

Why not aiosqlite here: it sends every statement to its thread and back. Each round trip costs a thread switch
and a turn of the event loop, and under load a turn waits for every other call's work, while the statements of a
call's path are indexed lookups and single-row updates that take SQLite 10 to 50 microseconds. Measured with
``python -m bench.cores`` (the same calls, interleaved): 78 calls/s at 11.7 ms of CPU per call with every statement
on aiosqlite's thread, 150 calls/s at 6.5 ms inline. And a write transaction held SQLite's write lock (every
worker's) across all its round trips; inline it holds it for the statements alone.

What could block the loop is kept off it:
- a lock held by a process that does not queue through ``writers.py`` (the sqlite3 shell, a backup): this
  connection's busy timeout is 0 and a BEGIN that finds the file locked is tried again after an asyncio sleep, up
  to the store's busy timeout (then StoreBusyError, as before);
- checkpoints, which copy the WAL into the database and fsync: this connection never runs one
  (``wal_autocheckpoint=0``); ``Database`` asks aiosqlite's thread for a passive checkpoint every
  ``CHECKPOINT_EVERY`` commits, without waiting for it.
Left on the loop: SQLite's own work; the page reads of a database larger than the page cache; and, once per
checkpoint cycle, the commit that starts the WAL over after a complete checkpoint syncs the WAL's new header and
its directory (``synchronous=NORMAL``), one or two fdatasync calls on the loop every ``CHECKPOINT_EVERY`` commits.

aiosqlite stays for everything else: migrations, the operators' commands, an in-memory database (one connection
only: a second would be another database) and the checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from callcenter.store.errors import StoreError
from callcenter.store.sql.connection import Params, Row
from callcenter.store.timestamps import to_db

T = TypeVar("T")

# SQLite's default limit on host parameters was 999 before 3.32; stay under it for IN lists.
IN_CHUNK: Final = 500
IN_KEYS: Final = "{in_keys}"
CHECKPOINT_EVERY: Final = 200
# the first waits of a BEGIN that finds the file locked by a process outside the writers' queue
BUSY_STEPS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def connect(target: str) -> sqlite3.Connection:
    """The inline connection to an existing, configured (WAL) database file open for writing."""
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=0")  # never wait inside SQLite: see ``retry_busy``
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except BaseException:
        conn.close()
        raise
    return conn


async def retry_busy(work: Callable[[], T], timeout: float) -> T:
    """``work()``, tried again while SQLite says the file is locked (SQLITE_BUSY), sleeping on the loop in
    between, until ``timeout`` seconds have passed; then the last busy error is raised."""
    deadline = time.monotonic() + timeout
    for attempt in itertools.count():
        try:
            return work()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(busy_step(attempt, deadline))
    raise AssertionError("unreachable")


def busy_step(attempt: int, deadline: float) -> float:
    """How long to sleep before the next try of a statement that found the file locked."""
    return min(BUSY_STEPS[min(attempt, len(BUSY_STEPS) - 1)], max(0.0, deadline - time.monotonic()))


def is_busy(exc: sqlite3.Error) -> bool:
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class SqliteStatements:
    """What both SQLite Conns build on their own ``fetch_all``, ``fetch_one`` and ``execute_many``: the first
    value, IN lists in chunks, bulk copies, and a refusal by the schema as a StoreError."""

    _name: str

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        raise NotImplementedError

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        raise NotImplementedError

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        raise NotImplementedError

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

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


class InlineConn(SqliteStatements):
    """Implements ``callcenter.store.sql.connection.Conn`` over the inline connection, inside a transaction or
    read of its Database. The methods are coroutines for the shared repositories' sake; none of them suspends."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self._conn = conn
        self._name = name

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._refusals():
            return list(self._conn.execute(sql, params_of(params)).fetchall())

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with self._refusals():
            row: Row | None = self._conn.execute(sql, params_of(params)).fetchone()
        return row

    async def execute(self, sql: str, params: Params = ()) -> int:
        with self._refusals():
            return self._conn.execute(sql, params_of(params)).rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        with self._refusals():
            rowid = self._conn.execute(sql, params_of(params)).lastrowid
        if rowid is None:
            raise RuntimeError(f"INSERT returned no rowid: {sql}")
        return rowid

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [params_of(row) for row in rows]
        if batch:
            with self._refusals():
                self._conn.executemany(sql, batch)


def params_of(params: Params) -> Sequence[Any]:
    # instants as the fixed-width UTC text the schema keeps (callcenter/store/timestamps.py)
    return [to_db(p) if isinstance(p, datetime) else p for p in params]


def in_lists(sql: str, keys: Sequence[object], params: Params) -> Iterator[tuple[str, list[Any]]]:
    """``sql`` with its ``{in_keys}`` as ``IN (?, ...)`` over chunks of ``keys``, with each chunk's parameters."""
    before = sql[: sql.index(IN_KEYS)].count("?")
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        marks = f"IN ({', '.join('?' for _ in chunk)})"
        yield sql.replace(IN_KEYS, marks), [*params[:before], *chunk, *params[before:]]
