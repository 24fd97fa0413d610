"""One asyncpg connection as the shared repositories use it (``callcenter.store.sql.connection.Conn``), and the
mapping of asyncpg's and the network's errors to the store's.

The repositories write ``?`` placeholders; PostgreSQL wants ``$1, $2, ...``. Each statement is translated once and
the translation cached, so asyncpg's own prepared-statement cache (keyed by the text) keeps working.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from callcenter.store.errors import StoreBusyError, StoreError, StoreUnavailableError
from callcenter.store.sql.connection import Params, Row

IN_KEYS: Final = "{in_keys}"

# a pooled connection (what the pool lends), or one of asyncpg's own; generic only in the stubs
if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record] | asyncpg.Connection[asyncpg.Record]
else:
    Connection: TypeAlias = PoolConnectionProxy | asyncpg.Connection

# Transient, from the caller's side: another writer holds the lock (lock_timeout), or the server chose this
# transaction to fail so another could go on. Retrying later succeeds.
_BUSY: Final = (
    asyncpg.LockNotAvailableError,  # 55P03: lock_timeout ran out (the write lock, see db.py)
    asyncpg.DeadlockDetectedError,  # 40P01
    asyncpg.SerializationError,  # 40001
    asyncpg.QueryCanceledError,  # 57014: statement_timeout, or an operator's pg_cancel_backend
    # another process migrated the schema under a statement this connection had prepared: asyncpg drops its cache,
    # and the same write goes through when retried
    asyncpg.InvalidCachedStatementError,
)
# Transient too: the server cannot take the write now (gone, restarting, full, read-only after a failover).
_UNAVAILABLE: Final = (
    asyncpg.PostgresConnectionError,  # class 08: connection refused, lost, does not exist
    asyncpg.InsufficientResourcesError,  # class 53: disk full, out of memory, too many connections
    asyncpg.OperatorInterventionError,  # class 57: admin/crash shutdown, cannot connect now (starting up)
    asyncpg.ReadOnlySQLTransactionError,  # 25006: a hot standby (the primary failed over), or read-only mode
    asyncpg.PostgresSystemError,  # class 58: I/O error on the server
    OSError,  # refused, reset, unreachable: before or under the protocol
    TimeoutError,  # connect timeout, command_timeout: the server stopped answering
)


def translated(exc: BaseException, name: str) -> StoreError | None:
    """The StoreError for a driver or network error (None: not one; a bug in our SQL keeps its traceback only if
    it is not a PostgresError, e.g. asyncpg's InterfaceError for a wrong number of arguments)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, _BUSY):
        return StoreBusyError(f"database {name} busy: {_text(exc)}")
    if isinstance(exc, _UNAVAILABLE) or _is_lost(exc):
        return StoreUnavailableError(f"database {name} cannot take writes: {_text(exc)}")
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        # a constraint or the schema's own trigger said no: permanent
        return StoreError(f"database {name} refused the change: {_text(exc)}")
    if isinstance(exc, asyncpg.PostgresError):
        return StoreError(f"database {name}: {_text(exc)}")
    return None


def _is_lost(exc: BaseException) -> bool:
    # asyncpg reports a connection closed under a running operation as an InterfaceError ("connection is closed"),
    # and a server that ended the session between two statements (pg_terminate_backend, a restart) as an
    # InternalClientError of its protocol state ("another operation is in progress"): the connection is gone
    if isinstance(exc, asyncpg.InternalClientError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def mapped(name: str) -> Iterator[None]:
    """Driver errors raised inside become the store's: transient ones StoreBusyError/StoreUnavailableError."""
    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError) as exc:
        store_error = translated(exc, name)
        if store_error is None:
            raise
        raise store_error from exc


@functools.lru_cache(maxsize=2048)
def numbered(sql: str) -> str:
    """``sql`` with each ``?`` placeholder (outside quotes and comments) numbered ``$1, $2, ...``."""
    out: list[str] = []
    n = 0
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            end = len(sql) if end < 0 else end
            out.append(sql[i : end + 1])
            i = end + 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if ch == "?":
            n += 1
            out.append(f"${n}")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _rowcount(status: str) -> int:
    # "UPDATE 3", "DELETE 0", "INSERT 0 1": the count is the last word
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgConn:
    """One pooled asyncpg connection inside a transaction or read of its Database."""

    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self._name = name

    @property
    def raw(self) -> Connection:
        return self._conn

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with mapped(self._name):
            return list(await self._conn.fetch(numbered(sql), *params))

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with mapped(self._name):
            row: Row | None = await self._conn.fetchrow(numbered(sql), *params)
            return row

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        with mapped(self._name):
            return await self._conn.fetchval(numbered(sql), *params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        with mapped(self._name):
            return _rowcount(await self._conn.execute(numbered(sql), *params))

    async def insert(self, sql: str, params: Params = ()) -> int:
        with mapped(self._name):
            new_id = await self._conn.fetchval(numbered(sql) + " RETURNING id", *params)
        if new_id is None:
            raise RuntimeError(f"INSERT returned no id: {sql}")
        return int(new_id)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            with mapped(self._name):
                # one prepared statement, the rows pipelined: no round trip per row
                await self._conn.executemany(numbered(sql), batch)

    async def fetch_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        if not keys:
            return []
        before = sql[: sql.index(IN_KEYS)].count("?")
        # one array parameter, whatever the number of keys: one statement text, one query
        return await self.fetch_all(sql.replace(IN_KEYS, "= ANY(?)"), [*params[:before], list(keys), *params[before:]])

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY (the fastest bulk load there is), in the caller's transaction; then the table's id sequence, if it
        has one, is moved past the ids copied, so the next insert gets a new one."""
        if not rows:
            return
        with mapped(self._name):
            await self._conn.copy_records_to_table(table, records=[tuple(r) for r in rows], columns=list(columns))
            if "id" in columns:
                sequence = await self._conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", table)
                if sequence is not None:
                    await self._conn.execute(
                        f"SELECT setval($1::regclass, GREATEST((SELECT MAX(id) FROM {table}), 1))", sequence
                    )

    async def script(self, sql: str) -> None:
        """Run a script of several statements (a migration), in the caller's transaction."""
        with mapped(self._name):
            await self._conn.execute(sql)
