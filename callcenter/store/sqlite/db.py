"""The one SQLite connection of a process, and the only ways to use it: ``transaction()`` and ``read()``.

All tasks share one aiosqlite connection, and a SQLite connection has exactly one transaction: a ROLLBACK in
one task would silently discard another task's uncommitted INSERT. So every transaction (write or read) holds
one asyncio.Lock from BEGIN to COMMIT; nothing else touches the connection. WAL mode lets other processes
(backup, the sqlite3 shell, the operator commands) read meanwhile, but there is one writer per database: one host,
one service.

An operator's command opens an existing database (``create=False``), most of them read-only: SQLite itself then
refuses every write (``mode=ro``), so a bug in a report cannot change the data the service runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import aiosqlite
import structlog

from callcenter.store.errors import StoreBusyError, StoreError, StoreUnavailableError
from callcenter.store.sqlite import inline
from callcenter.store.sqlite.writers import WriterQueue

log = structlog.get_logger(__name__)

MEMORY: Final = ":memory:"
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
# UPSERT (INSERT ... ON CONFLICT DO UPDATE) is the oldest feature the repositories rely on.
MIN_SQLITE_VERSION: Final = (3, 24, 0)


class Database:
    """Use ``await Database.open(path)``; the constructor only wraps an already configured connection."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        path: str,
        busy_timeout_ms: int,
        *,
        readonly: bool = False,
        inline: sqlite3.Connection | None = None,
    ) -> None:
        self._conn = conn
        # the repositories' connection (inline.py): a file database open for writing has one
        self._inline = inline
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._readonly = readonly
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._closed = False
        # several processes writing one file (the service's workers, an operator's command) take turns through
        # the kernel rather than through SQLite's sleeping busy handler (writers.py says why)
        self._writers = None if readonly or path == MEMORY else WriterQueue(path)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        create: bool = True,
        readonly: bool = False,
    ) -> Database:
        """Open the database at ``path``.

        ``create=False``: the file must exist (StoreError naming the path otherwise), and is never created.
        ``readonly=True`` (implies ``create=False``): SQLite opens the file with ``mode=ro``, so no statement can
        write, and ``transaction()`` refuses at once.
        """
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old; callcenter needs "
                f"{'.'.join(map(str, MIN_SQLITE_VERSION))} or newer"
            )
        target = str(path)
        existing = readonly or not create
        if existing and (target == MEMORY or not Path(target).is_file()):
            raise StoreError(f"no database at {target}: `callcenter db migrate` (or starting the service) creates it")
        try:
            if not existing and target != MEMORY:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the sqlite3 module must never open or commit transactions behind our
            # back; transaction() and read() issue BEGIN/COMMIT themselves.
            if existing:
                # a URI, so SQLite itself never creates the file (and, with mode=ro, never writes it)
                mode = "ro" if readonly else "rw"
                uri = f"file:{urllib.parse.quote(str(Path(target).resolve()))}?mode={mode}"
                conn = await _connect(aiosqlite.connect(uri, uri=True, isolation_level=None))
            else:
                conn = await _connect(aiosqlite.connect(target, isolation_level=None))
        except (OSError, sqlite3.Error) as exc:
            # sqlite3 says only "unable to open database file"; the operator needs the path.
            raise StoreError(f"cannot open database {target}: {exc}") from exc
        if target != MEMORY and not readonly:
            # callers' numbers and PIN hashes: for the service's user only, even in a database created before the
            # service set its umask (SQLite gives the -wal and -shm files the database file's mode)
            with contextlib.suppress(OSError):
                Path(target).chmod(0o600)
        try:
            conn.row_factory = aiosqlite.Row
            await _configure(conn, target, busy_timeout_ms, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            await conn.close()
            # e.g. "file is not a database": one line with the path, not a traceback
            raise StoreError(f"cannot use database {target}: {exc}") from exc
        except BaseException:
            await conn.close()
            raise
        own: sqlite3.Connection | None = None
        if target != MEMORY and not readonly:
            try:
                own = inline.connect(target)
            except sqlite3.Error as exc:
                await conn.close()
                raise StoreError(f"cannot open database {target}: {exc}") from exc
        return cls(conn, target, busy_timeout_ms, readonly=readonly, inline=own)

    @property
    def path(self) -> str:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def inline(self) -> sqlite3.Connection | None:
        """The connection the repositories' statements run on, on the loop's thread (inline.py); None for an
        in-memory or read-only database, whose repositories use the aiosqlite connection."""
        return self._inline

    @contextlib.asynccontextmanager
    async def inline_transaction(self) -> AsyncIterator[sqlite3.Connection]:
        """``transaction()`` on the inline connection: BEGIN IMMEDIATE, COMMIT or ROLLBACK.

        The writers' turn is taken before the connection: while this task waits for another process's write, this
        process's reads go on. A file locked by a process outside the queue is tried again after asyncio sleeps,
        without the connection held, until one busy timeout after the start (turn and retries together)."""
        conn = self._inline_connection()
        self._refuse_nested()
        timeout = self._busy_timeout_ms / 1000
        deadline = time.monotonic() + timeout
        async with self._turn():
            for attempt in itertools.count():
                async with self._exclusive():
                    try:
                        conn.execute("BEGIN IMMEDIATE")
                    except sqlite3.OperationalError as exc:
                        if not _is_busy(exc):
                            raise self._unavailable(exc) from exc
                        if time.monotonic() >= deadline:
                            raise self._stuck_writer() from exc
                    else:
                        try:
                            yield conn
                            conn.execute("COMMIT")
                        except sqlite3.OperationalError as exc:
                            _rollback_inline(conn)
                            raise self._unavailable(exc) from exc
                        except BaseException:
                            _rollback_inline(conn)
                            raise
                        break
                await asyncio.sleep(inline.busy_step(attempt, deadline))
        self._committed()

    @contextlib.asynccontextmanager
    async def inline_read(self) -> AsyncIterator[sqlite3.Connection]:
        """``read()`` on the inline connection: one snapshot for several statements, ending in ROLLBACK. (A
        deferred BEGIN takes no lock: nothing to wait for.)"""
        conn = self._inline_connection()
        async with self._exclusive():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                _rollback_inline(conn)

    async def inline_query(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        """One statement in autocommit on the inline connection (its own snapshot)."""
        conn = self._inline_connection()
        async with self._exclusive():
            return await inline.retry_busy(
                lambda: list(conn.execute(sql, params).fetchall()), self._busy_timeout_ms / 1000
            )

    def _inline_connection(self) -> sqlite3.Connection:
        if self._inline is None:
            raise StoreError(f"database {self._path} has no inline connection (in memory, or read-only)")
        if self._closed:
            raise StoreError(f"database {self._path} is closed")
        return self._inline

    def _committed(self) -> None:
        """Every ``CHECKPOINT_EVERY`` inline commits, a passive checkpoint on aiosqlite's thread (the inline
        connection never checkpoints: that copies and fsyncs, off the loop). Not awaited, never two at once."""
        self._commits += 1
        if self._commits % inline.CHECKPOINT_EVERY or (self._checkpoint and not self._checkpoint.done()):
            return
        self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            await self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except (sqlite3.Error, ValueError) as exc:
            # best effort (the connection may be inside a migration's transaction, or closing): the next one
            # catches up, and SQLite checkpoints when the last connection closes
            log.debug("sqlite_checkpoint_skipped", database=self._path, error=str(exc))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception (re-raised).

        IMMEDIATE takes the write lock up front, so a conflict with another process shows up here as
        StoreBusyError instead of half-way through the work.
        """
        if self._readonly:
            # SQLite would refuse the first write anyway; saying so here names the mistake, not a symptom
            raise StoreError(f"database {self._path} is open read-only: this command must not change it")
        async with self._exclusive(), self._turn():
            try:
                # inside the try: aiosqlite runs a queued BEGIN even if this await is cancelled, and an open
                # transaction left behind would make every later BEGIN fail
                await self._begin("BEGIN IMMEDIATE")
                yield self._conn
            except sqlite3.OperationalError as exc:
                await self._rollback()
                raise self._unavailable(exc) from exc
            except BaseException:
                await self._rollback()
                raise
            try:
                await self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                await self._rollback()
                raise self._unavailable(exc) from exc
            except BaseException:
                await self._rollback()
                raise

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._writers is None:
            yield
            return
        # a turn not had within the busy timeout falls back to SQLite's own wait (and its StoreBusyError): the
        # advisory queue may order the writers, never stop them
        async with self._writers.turn(self._busy_timeout_ms / 1000):
            yield

    def _unavailable(self, exc: sqlite3.OperationalError) -> StoreError:
        """A write that failed for the database's sake (full disk, read-only file, I/O), not for its content."""
        if _is_busy(exc):
            return StoreBusyError(f"database {self._path} locked by another writer: {exc}")
        return StoreUnavailableError(f"database {self._path} cannot take writes: {exc}")

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
            try:
                if self._checkpoint is not None:
                    with contextlib.suppress(Exception):
                        await self._checkpoint
            finally:
                # even when the close is cancelled while a checkpoint finishes: a second close() would return at
                # once, and aiosqlite's thread would keep the process from exiting
                if self._inline is not None:
                    self._inline.close()
                await asyncio.shield(self._conn.close())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _refuse_nested(self) -> None:
        # asyncio.Lock is not re-entrant: a nested transaction in the same task would wait for itself forever.
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            raise RuntimeError("nested store transaction: the task already holds the database")

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        self._refuse_nested()
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
                raise self._stuck_writer() from exc
            raise

    def _stuck_writer(self) -> StoreBusyError:
        return StoreBusyError(
            f"database {self._path} stayed locked by another writer for {self._busy_timeout_ms} ms; "
            "is a second callcenter process (or a shell holding a transaction) using it?"
        )

    async def _rollback(self) -> None:
        # Some errors (disk full, I/O) end the transaction inside SQLite already; a second ROLLBACK would
        # raise and hide the original error. A cancellation arriving while this awaits does not matter: the
        # ROLLBACK is already queued on the connection's thread, ahead of any later BEGIN.
        if self._conn.in_transaction:
            await self._conn.execute("ROLLBACK")


def _rollback_inline(conn: sqlite3.Connection) -> None:
    # as _rollback: some errors (disk full, I/O) end the transaction inside SQLite already
    if conn.in_transaction:
        conn.execute("ROLLBACK")


async def _configure(conn: aiosqlite.Connection, target: str, busy_timeout_ms: int, *, readonly: bool) -> None:
    if readonly:
        # the journal mode belongs to the file (the service set WAL); a reader only needs a schema it can read
        await conn.execute_fetchall("SELECT count(*) FROM sqlite_master")
        # belt and braces next to mode=ro: refuses writes even to a temporary table
        await conn.execute("PRAGMA query_only=ON")
    else:
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


async def _connect(pending: aiosqlite.Connection) -> aiosqlite.Connection:
    """Await an aiosqlite connection; if it fails, wait for its worker thread to end before raising.

    Why: aiosqlite stops the thread on a failed connect, but the thread answers that stop on the event loop it
    came from; a CLI that prints its one-line error and closes the loop at once got a second, unrelated
    traceback ("Event loop is closed") from that thread. ``_thread`` is aiosqlite's, there is no public handle.
    """
    try:
        return await pending
    except BaseException:
        await asyncio.to_thread(pending._thread.join, 2.0)
        raise
