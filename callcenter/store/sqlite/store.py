"""The SQLite implementation of the store API: the shared repositories over one SQLite Database.

Three ways to open it, one per kind of process:

* ``open``: the serving process (``serve``, ``run``). Creates and migrates the database and owns the rating
  half-life (recomputes the decayed sums once when the configured one differs).
* ``open_migrated``: ``db migrate`` and ``agents sync``. Creates and migrates, but leaves the half-life to the
  service.
* ``open_existing``: every other operator command. The database must exist at the current schema; nothing is
  created, migrated or recomputed, and (``readonly=True``, the default) SQLite refuses every write.
"""

from __future__ import annotations

from pathlib import Path

from callcenter.store.decay import Decay
from callcenter.store.sql.ratings import sync_half_life
from callcenter.store.sql.store import SqlStore
from callcenter.store.sqlite.conn import SqliteDatabase
from callcenter.store.sqlite.db import DEFAULT_BUSY_TIMEOUT_MS, Database
from callcenter.store.sqlite.migrate import bundled_migrations, migrate, require_current, schema_version


class SqliteStore(SqlStore):
    """Implements ``callcenter.store.api.Store``. Closing the store closes its Database."""

    def __init__(self, db: Database, *, half_life_days: float | None = None, owns_half_life: bool = True) -> None:
        super().__init__(SqliteDatabase(db), half_life_days=half_life_days, owns_half_life=owns_half_life)
        self._raw = db

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        half_life_days: float | None = None,
    ) -> SqliteStore:
        """Open (creating if needed) and migrate the database at ``path``, as the serving process.

        ``half_life_days`` is the recency decay of the rating summaries' decayed values (None = no decay).
        If the database keeps its decayed sums for another half-life, they are recomputed here, once (a full
        scan of the evaluations, logged), and again at a write if another process changes it meanwhile.
        """
        decay = Decay(half_life_days)  # refuse a bad half-life before opening anything
        db = await Database.open(path, busy_timeout_ms=busy_timeout_ms)
        try:
            await migrate(db)
            await sync_half_life(SqliteDatabase(db), decay)
        except BaseException:
            await db.close()
            raise
        return cls(db, half_life_days=half_life_days)

    @classmethod
    async def open_migrated(cls, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> SqliteStore:
        """Open (creating if needed) and migrate the database, following the half-life it records."""
        db = await Database.open(path, busy_timeout_ms=busy_timeout_ms)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, owns_half_life=False)

    @classmethod
    async def open_existing(
        cls, path: str | Path, *, readonly: bool = True, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> SqliteStore:
        """Open a database the service keeps, changing nothing on the way.

        StoreError (one line naming the path) if there is no database there; SchemaTooOldError/SchemaTooNewError
        if its schema is not exactly this callcenter's. The rating half-life is the one the database records.
        """
        db = await Database.open(path, busy_timeout_ms=busy_timeout_ms, create=False, readonly=readonly)
        try:
            await require_current(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, owns_half_life=False)

    @property
    def db(self) -> Database:
        """SQLite's own handle (aiosqlite connections): for the benchmarks' bulk loads and SQLite-only tests."""
        return self._raw

    async def schema_status(self) -> tuple[int, int]:
        """(the database's schema version, the one this callcenter writes): equal when current (``/readyz``)."""
        return await schema_version(self._raw), len(bundled_migrations())
