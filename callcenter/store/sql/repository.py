"""The base every shared repository builds on: one backend Database and the rating half-life this handle keeps."""

from __future__ import annotations

from callcenter.store.decay import Decay
from callcenter.store.errors import UnknownReferenceError
from callcenter.store.sql.connection import Conn, Database


class Repository:
    """The repositories of one store share one Database (so, on SQLite, one lock and one connection).

    ``half_life_days`` is the recency decay the serving process keeps the rating totals for (None = no decay);
    the serving open makes the database record it, and a write puts it back if another process changed it.
    ``owns_half_life=False`` (an operator's handle) follows whatever half-life the database records instead
    (see callcenter/store/decay.py).
    """

    def __init__(self, db: Database, *, half_life_days: float | None = None, owns_half_life: bool = True) -> None:
        self._db = db
        self._decay: Decay | None = Decay(half_life_days) if owns_half_life else None


async def require(conn: Conn, table: str, key: object, what: str) -> None:
    """UnknownReferenceError unless ``table`` has a row with id ``key``: the foreign key would catch it too, but
    "FOREIGN KEY constraint failed" does not say which one."""
    if await conn.fetch_one(f"SELECT 1 FROM {table} WHERE id = ?", (key,)) is None:
        raise UnknownReferenceError(f"unknown {what} {key!r}")
