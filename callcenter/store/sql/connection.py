"""What the shared repositories need from a backend: one connection in a transaction, and a way to get one.

A backend's ``Database`` hands out a ``Conn`` for the duration of a write ``transaction()`` or a ``read()``
snapshot; the repositories never see a driver. The SQL they pass is written for both engines (see
``callcenter.store.sql``); a ``Conn`` translates what must be translated (placeholders, instants, IN lists) and
nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

# Positional parameters for the statement's ``?`` placeholders, in order.
Params = Sequence[Any]


class Row(Protocol):
    """A result row: by column name (or position). sqlite3.Row and asyncpg.Record both are."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Conn(Protocol):
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (None if there is none)."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run one INSERT into a table keyed by an integer ``id``; return the new row's id."""

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each parameter row, batched (no round trip per row where the engine allows)."""

    async def fetch_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        """All rows of ``sql`` whose ``{in_keys}`` membership test holds for ``keys``: ``column {in_keys}`` is
        ``column IN (?, ...)`` on SQLite (in chunks under its parameter limit), ``column = ANY(?)`` on
        PostgreSQL. ``params`` fill the other placeholders, in order; the keys go where ``{in_keys}`` stands.
        No keys, no rows (and no query)."""

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk-insert ``rows`` into ``table`` as given, ids included (``db copy``)."""


class Database(Protocol):
    """One backend's database as the repositories use it.

    ``transaction()``: a write transaction, serialised against every other writer of the database, in this
    process and in any other (the repositories read, compute and write back totals inside one: they rely on
    nobody else writing meanwhile). COMMIT on success, ROLLBACK on any exception. A write the database cannot take
    now raises StoreBusyError (another writer kept the lock past the busy timeout) or StoreUnavailableError
    (unreachable, full, read-only, I/O): the only transient errors, which the IVR's journal keeps and retries.

    ``read()``: one consistent snapshot for several queries, never anyone's uncommitted writes; it always ends in
    ROLLBACK. Neither may be nested in one task (RuntimeError).
    """

    @property
    def name(self) -> str:
        """How messages name the database (a path, or a URL without its password)."""

    @property
    def readonly(self) -> bool: ...

    def transaction(self) -> AbstractAsyncContextManager[Conn]: ...

    def read(self) -> AbstractAsyncContextManager[Conn]: ...

    async def query(self, sql: str, params: Params = ()) -> list[Row]:
        """One read statement on its own: a statement is its own consistent snapshot, so no transaction is opened
        around it (on SQLite one round trip to the driver's thread instead of two; on PostgreSQL one query instead
        of three). For the reads on every call's path; several statements that must agree take ``read()``."""

    async def query_in(self, sql: str, keys: Sequence[object], params: Params = ()) -> list[Row]:
        """``Conn.fetch_in`` as one ``query`` where the keys fit one statement (a ``read()`` where they do not)."""

    async def close(self) -> None: ...
