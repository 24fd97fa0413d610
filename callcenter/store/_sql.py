"""Small typed helpers over aiosqlite, shared by the SQLite repositories."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

from callcenter.store.db import Database
from callcenter.store.decay import Decay
from callcenter.store.errors import UnknownReferenceError

Params = Sequence[Any]
T = TypeVar("T")


class Repository:
    """Base of the SQLite repositories: they share one Database and so one lock and one connection.

    ``half_life_days`` is the recency decay the serving process keeps the rating totals for (None = no decay);
    ``SqliteStore.open`` makes the database record it, and a write puts it back if another process changed it.
    ``owns_half_life=False`` (an operator's handle) follows whatever half-life the database records instead
    (see callcenter/store/decay.py).
    """

    def __init__(self, db: Database, *, half_life_days: float | None = None, owns_half_life: bool = True) -> None:
        self._db = db
        self._decay: Decay | None = Decay(half_life_days) if owns_half_life else None


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, params))


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> sqlite3.Row | None:
    rows = await fetch_all(conn, sql, params)
    return rows[0] if rows else None


async def execute(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Run one statement; return the number of rows it changed."""
    cursor = await conn.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        await cursor.close()


async def insert(conn: aiosqlite.Connection, sql: str, params: Params = ()) -> int:
    """Run one INSERT; return the new row's rowid."""
    cursor = await conn.execute(sql, params)
    try:
        rowid = cursor.lastrowid
    finally:
        await cursor.close()
    if rowid is None:
        raise RuntimeError(f"INSERT returned no rowid: {sql}")
    return rowid


def placeholders(values: Iterable[object]) -> str:
    """``?, ?, ?`` for an IN list; the values themselves always travel as parameters."""
    return ", ".join("?" for _ in values)


# SQLite's default limit on host parameters was 999 before 3.32; stay under it for IN lists.
IN_CHUNK = 500


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def fetch_in(conn: aiosqlite.Connection, sql: str, keys: Sequence[object]) -> list[sqlite3.Row]:
    """All rows of ``sql`` (with ``{keys}`` where the IN list goes) for ``keys``, in chunks under the parameter
    limit: one query for any real roster or page."""
    rows: list[sqlite3.Row] = []
    for chunk in chunks(keys):
        rows += await fetch_all(conn, sql.format(keys=placeholders(chunk)), chunk)
    return rows


async def require(conn: aiosqlite.Connection, table: str, key: object, what: str) -> None:
    """UnknownReferenceError unless ``table`` has a row with id ``key``: the foreign key would catch it too, but
    "FOREIGN KEY constraint failed" does not say which one."""
    if await fetch_one(conn, f"SELECT 1 FROM {table} WHERE id = ?", (key,)) is None:
        raise UnknownReferenceError(f"unknown {what} {key!r}")
