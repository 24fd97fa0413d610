"""The one SQLite connection of a process, and the only ways to use it: ``transaction()`` and ``read()``.

All tasks share one aiosqlite connection, and a SQLite connection has exactly one transaction: a ROLLBACK in
one task would silently discard another task's uncommitted INSERT. So every transaction (write or read) holds
one asyncio.Lock from BEGIN to COMMIT; nothing else touches the connection. WAL mode lets other processes
(backup, the sqlite3 shell) read meanwhile, but there is one writer per database: one host, one service.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import aiosqlite

from callcenter.store.errors import StoreBusyError, StoreError

MEMORY: Final = ":memory:"
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
# UPSERT (INSERT ... ON CONFLICT DO UPDATE) is the oldest feature the repositories rely on.
MIN_SQLITE_VERSION: Final = (3, 24, 0)


class Database:
    """Use ``await Database.open(path)``; the constructor only wraps an already configured connection."""

    def __init__(self, conn: aiosqlite.Connection, path: str, busy_timeout_ms: int) -> None:
        self._conn = conn
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Database:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; callcenter needs "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer"
            )
        target = str(path)
        try:
            if target != MEMORY:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the sqlite3 module must never open or commit transactions behind our
            # back; transaction() and read() issue BEGIN/COMMIT themselves.
            conn = await aiosqlite.connect(target, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            # sqlite3 says only "unable to open database file"; the operator needs the path.
            raise StoreError(f"cannot open database {target}: {exc}") from exc
        try:
            conn.row_factory = aiosqlite.Row
            await _configure(conn, target, busy_timeout_ms)
        except BaseException:
            await conn.close()
            raise
        return cls(conn, target, busy_timeout_ms)

    @property
    def path(self) -> str:
        return self._path

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception (re-raised).

        IMMEDIATE takes the write lock up front, so a conflict with another process shows up here as
        StoreBusyError instead of half-way through the work.
        """
        async with self._exclusive():
            try:
                # inside the try: aiosqlite runs a queued BEGIN even if this await is cancelled, and an open
                # transaction left behind would make every later BEGIN fail
                await self._begin("BEGIN IMMEDIATE")
                yield self._conn
            except BaseException:
                await self._rollback()
                raise
            try:
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read transaction: one consistent snapshot for several queries, never another task's uncommitted
        writes. It always ends in ROLLBACK, so anything written here by mistake is discarded."""
        async with self._exclusive():
            try:
                await self._begin("BEGIN")
                yield self._conn
            finally:
                await self._rollback()

    async def close(self) -> None:
        if self._closed:
            return
        # Wait for a transaction in flight rather than cutting it off.
        async with self._exclusive():
            self._closed = True
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        # asyncio.Lock is not re-entrant: a nested transaction in the same task would wait for itself forever.
        if task is not None and task is self._owner:
            raise RuntimeError("nested store transaction: the task already holds the database")
        async with self._lock:
            if self._closed:
                raise StoreError(f"database {self._path} is closed")
            self._owner = task
            try:
                yield
            finally:
                self._owner = None

    async def _begin(self, statement: str) -> None:
        try:
            await self._conn.execute(statement)
        except asyncio.CancelledError:
            # aiosqlite still runs the queued BEGIN after this await is cancelled; queue a ROLLBACK right behind
            # it (same thread, in order) so no transaction is left open for the next task to trip over
            with contextlib.suppress(sqlite3.OperationalError):
                await asyncio.shield(self._conn.execute("ROLLBACK"))
            raise
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise StoreBusyError(
                    f"database {self._path} stayed locked by another writer for {self._busy_timeout_ms} ms; "
                    "is a second callcenter process (or a shell holding a transaction) using it?"
                ) from exc
            raise

    async def _rollback(self) -> None:
        # Some errors (disk full, I/O) end the transaction inside SQLite already; a second ROLLBACK would
        # raise and hide the original error. A cancellation arriving while this awaits does not matter: the
        # ROLLBACK is already queued on the connection's thread, ahead of any later BEGIN.
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")


async def _configure(conn: aiosqlite.Connection, target: str, busy_timeout_ms: int) -> None:
    rows = list(await conn.execute_fetchall("PRAGMA journal_mode=WAL"))
    mode = str(rows[0][0]).lower() if rows else ""
    expected = "memory" if target == MEMORY else "wal"
    if mode != expected:
        # WAL fails on some network filesystems; the locking assumptions above would not hold there.
        raise StoreError(f"database {target}: could not enable WAL journal mode (got {mode!r})")
    await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    await conn.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable across application crashes in WAL mode; only a power loss can drop the last commits.
    await conn.execute("PRAGMA synchronous=NORMAL")


def _is_busy(exc: sqlite3.Error) -> bool:
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
