"""A PostgreSQL database as the shared repositories use it: an asyncpg pool, serialised write transactions and
read-only snapshots (``callcenter.store.sql.connection.Database``).

Why writers are serialised, across every process and host using the database: the repositories read totals rows,
compute the new decayed sums in Python and write them back (``sql/ratings.py``), look a row up and insert it if it
is missing (clients, calls), and count failures before recording one (PINs). On SQLite one writer at a time is
what the file lock gives. Here every write transaction starts by taking one transaction-scoped advisory lock,
``pg_advisory_xact_lock(WRITE_LOCK)``, so it runs exactly as it would on SQLite: nobody writes between its reads
and its writes, and "one evaluation per call per direction, aggregates equal rows, audit on every change" holds
for any number of serving processes. The lock is released by COMMIT or ROLLBACK, or by the server when the
connection dies, so a crashed writer never leaves it held. Waiting for it is bounded by ``lock_timeout`` (the
busy timeout): past it the write fails with StoreBusyError, as on SQLite. A call center writes a few rows per
call event, so one writer at a time (about 1 ms per transaction on a LAN) is far from a limit.

The write transaction is READ COMMITTED on purpose: each statement sees what was committed before it started, and
the first statement takes the lock, so everything after it sees every earlier writer's commit. (REPEATABLE READ
would fix the snapshot at that first statement, i.e. before the lock was granted, and lose updates.)
Reads are REPEATABLE READ READ ONLY: one snapshot for all their queries, never blocked by writers.

In one process, writes also queue on an asyncio.Lock before taking a connection, so waiting writers hold no pool
connection and readers are never starved of one. A read-only handle (``readonly=True``) has the server refuse every
write (``default_transaction_read_only``) and ``transaction()`` refuses at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Final, Self

import asyncpg

from callcenter.store.errors import StoreBusyError, StoreError
from callcenter.store.postgres.conn import Connection, PgConn, mapped, translated
from callcenter.store.sql.connection import Conn, Params, Row

# The key of the write lock: any fixed bigint; advisory locks are per database, so one key serves every center.
# (int.from_bytes(b"callcent", "big") >> 1: a value nobody else is likely to pick)
WRITE_LOCK: Final = 3_580_562_047_637_829_434
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
POOL_MAX: Final = 10
# A statement that has not answered in this long is a server that stopped answering. Operators' commands (db check's
# scans, db copy's chunks) allow this long; the serving process allows only its busy timeout plus SERVING_SLACK:
# a caller is listening, and a write that cannot be made in time is journaled (callcenter/journal.py) instead.
COMMAND_TIMEOUT: Final = 60.0
SERVING_SLACK: Final = 2.0
CLOSE_TIMEOUT: Final = 10.0


class Database:
    """Use ``await Database.open(dsn)``; the constructor only wraps an already created pool."""

    def __init__(self, pool: asyncpg.Pool, name: str, busy_timeout_ms: int, *, readonly: bool = False) -> None:
        self._pool = pool
        self._name = name
        self._busy_timeout_ms = busy_timeout_ms
        self._readonly = readonly
        self._write_lock = asyncio.Lock()
        self._inside: set[asyncio.Task[object]] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        readonly: bool = False,
        name: str | None = None,
        pool_max: int = POOL_MAX,
        command_timeout: float = COMMAND_TIMEOUT,
    ) -> Database:
        """Connect to the database at ``dsn`` (``postgresql://user:password@host:port/dbname``, libpq style).

        The database must exist (creating one needs rights the service should not have: ``createdb``).
        StoreUnavailableError if the server cannot be reached, StoreError (one line naming the database) if it
        refuses (no such database, authentication).
        """
        shown = name or _redacted(dsn)
        settings = {"application_name": "callcenter"}
        if readonly:
            settings["default_transaction_read_only"] = "on"
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=pool_max,
                # a server that does not answer the handshake: fail like a busy database, not hang a call
                timeout=max(2.0, busy_timeout_ms / 1000),
                command_timeout=command_timeout,
                server_settings=settings,
                reset=_reset,
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            error = translated(exc, shown) or StoreError(f"database {shown}: {exc}")
            hint = ": `createdb` it first" if isinstance(exc, asyncpg.InvalidCatalogNameError) else ""
            raise type(error)(f"cannot open database {shown}: {exc or type(exc).__name__}{hint}") from exc
        return cls(pool, shown, busy_timeout_ms, readonly=readonly)

    @property
    def name(self) -> str:
        return self._name

    @property
    def readonly(self) -> bool:
        return self._readonly

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """A write transaction holding the write lock (module docstring); COMMIT on success, ROLLBACK on any
        exception (re-raised). StoreBusyError if another writer kept the lock past the busy timeout."""
        if self._readonly:
            raise StoreError(f"database {self._name} is open read-only: this command must not change it")
        async with self._exclusive(), self._write_turn(), self._connection() as conn:
            try:
                # one round trip: simple-protocol script; SET LOCAL bounds only this transaction's lock waits
                await conn.script(
                    "BEGIN ISOLATION LEVEL READ COMMITTED; "
                    f"SET LOCAL lock_timeout = {int(self._busy_timeout_ms)}; "
                    f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
                )
            except StoreBusyError as exc:
                await _rollback(conn)
                raise StoreBusyError(
                    f"database {self._name} stayed locked by another writer for {self._busy_timeout_ms} ms; "
                    "is another callcenter process (or a session holding a transaction) writing to it?"
                ) from exc
            except BaseException:
                await _rollback(conn)
                raise
            try:
                yield conn
            except BaseException:
                await _rollback(conn)
                raise
            try:
                await conn.script("COMMIT")
            except BaseException:
                await _rollback(conn)
                raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """One snapshot for several queries, never blocked by writers; always ends in ROLLBACK."""
        async with self._exclusive(), self._connection() as conn:
            try:
                await conn.script("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
            finally:
                await _rollback(conn)

    async def query(self, sql: str, params: Params = ()) -> list[Row]:
        # one statement in autocommit: its own snapshot, and no BEGIN and ROLLBACK round trips around it
        async with self._exclusive(), self._connection() as conn:
            return await conn.fetch_all(sql, params)

    async def query_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        async with self._exclusive(), self._connection() as conn:
            return await conn.fetch_in(sql, keys, params)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # waits for the connections in use to come back (a transaction in flight finishes)
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT)
        except (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            self._pool.terminate()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        # as on SQLite: a nested transaction in one task is a bug (here a nested write would wait for itself)
        if task is not None and task in self._inside:
            raise RuntimeError("nested store transaction: the task already holds the database")
        if self._closed:
            raise StoreError(f"database {self._name} is closed")
        if task is not None:
            self._inside.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._inside.discard(task)

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """This process's writers queue here before taking a connection (a waiting writer holds none), for no
        longer than the busy timeout: behind a writer stuck on a stalled server, the next one is busy, not silent."""
        try:
            async with asyncio.timeout(self._busy_timeout_ms / 1000):
                await self._write_lock.acquire()
        except TimeoutError:
            raise StoreBusyError(
                f"database {self._name}: another write of this process has not finished in {self._busy_timeout_ms} ms"
            ) from None
        try:
            yield
        finally:
            self._write_lock.release()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[PgConn]:
        # bounded: every pooled connection in use, or a new one not connecting, ends as StoreUnavailableError
        with mapped(self._name):
            raw = await self._pool.acquire(timeout=max(1.0, self._busy_timeout_ms / 1000))
        try:
            yield PgConn(raw, self._name)
        finally:
            # asyncpg's release waits for a timed-out query's cancellation, and on a stalled server raises
            # TimeoutError itself: that must never replace the StoreUnavailableError being raised (the journal
            # keeps only the store's transient errors; anything else would drop the rating). A connection that
            # cannot be released cleanly is of no further use: terminated, the pool replaces it.
            try:
                await self._pool.release(raw, timeout=CLOSE_TIMEOUT)
            except asyncio.CancelledError:
                _terminate(raw)
                raise
            except Exception:
                _terminate(raw)


async def _reset(conn: Connection) -> None:
    """What the pool does to a connection given back: nothing, as a rule (one round trip saved per transaction).

    asyncpg's default reset (RESET ALL, UNLISTEN, advisory unlock, CLOSE ALL) undoes session state this code never
    creates: settings are SET LOCAL, the write lock is transaction-scoped, nothing listens, and every transaction
    ends before its connection goes back (a connection that could not end one is terminated, see _rollback).
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _rollback(conn: PgConn) -> None:
    """End the transaction, whatever state the connection is in; never raises over the error being handled.

    A connection that cannot roll back (lost, or interrupted mid-statement) is terminated instead: the server
    rolls back a dead connection's transaction and frees its lock, and the pool replaces it. (A connection the
    server ended is handed back to the pool by asyncpg itself, and then refuses every call: that is fine too.)
    """
    raw = conn.raw
    try:
        if raw.is_closed() or not raw.is_in_transaction():
            return
        await raw.execute("ROLLBACK")
    except asyncio.CancelledError:
        _terminate(raw)
        raise
    except Exception:  # whatever it is, the connection is of no further use
        _terminate(raw)


def _terminate(raw: Connection) -> None:
    with contextlib.suppress(Exception):  # already released to the pool by asyncpg: nothing left to end
        raw.terminate()


def _redacted(dsn: str) -> str:
    # one redaction for every message (callcenter/store/opening.py), the query's password= included
    from callcenter.store.opening import redacted  # noqa: PLC0415 - opening imports this backend

    return redacted(dsn)
