"""The PostgreSQL implementation of the store API: the shared repositories over an asyncpg pool.

The same three ways to open as SQLite's (``callcenter/store/opening.py``): ``open`` for the serving process
(migrates, owns the rating half-life), ``open_migrated`` for ``db migrate`` and ``agents sync``, ``open_existing``
for every other operator command (nothing created, migrated or recomputed; read-only by default, refused by the
server itself).
"""

from __future__ import annotations

from callcenter.store.decay import Decay
from callcenter.store.postgres.db import DEFAULT_BUSY_TIMEOUT_MS, SERVING_SLACK, Database
from callcenter.store.postgres.migrate import bundled_migrations, migrate, require_current, schema_version
from callcenter.store.sql.ratings import sync_half_life
from callcenter.store.sql.store import SqlStore


class PostgresStore(SqlStore):
    """Implements ``callcenter.store.api.Store``. Closing the store closes its pool."""

    def __init__(self, db: Database, *, half_life_days: float | None = None, owns_half_life: bool = True) -> None:
        super().__init__(db, half_life_days=half_life_days, owns_half_life=owns_half_life)
        self._pg = db

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        half_life_days: float | None = None,
        name: str | None = None,
    ) -> PostgresStore:
        """Connect and migrate, as the serving process; recompute the decayed sums once if the database keeps
        them for another half-life than ``half_life_days`` (None = no decay)."""
        decay = Decay(half_life_days)  # refuse a bad half-life before connecting
        # migrating and recomputing the decayed sums may take long (operators' timeout), on a pool of their own;
        # the serving pool then gives a statement only the busy timeout plus a little (db.SERVING_SLACK)
        async with await Database.open(dsn, busy_timeout_ms=busy_timeout_ms, name=name) as setup:
            await migrate(setup)
            await sync_half_life(setup, decay)
        db = await Database.open(
            dsn, busy_timeout_ms=busy_timeout_ms, name=name, command_timeout=busy_timeout_ms / 1000 + SERVING_SLACK
        )
        return cls(db, half_life_days=half_life_days)

    @classmethod
    async def open_migrated(
        cls, dsn: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, name: str | None = None
    ) -> PostgresStore:
        """Connect and migrate, following the half-life the database records."""
        db = await Database.open(
            dsn, busy_timeout_ms=busy_timeout_ms, name=name, command_timeout=busy_timeout_ms / 1000 + SERVING_SLACK
        )
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, owns_half_life=False)

    @classmethod
    async def open_existing(
        cls,
        dsn: str,
        *,
        readonly: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        name: str | None = None,
    ) -> PostgresStore:
        """Connect to a database the service keeps, changing nothing on the way: SchemaTooOldError/SchemaTooNewError
        if its schema is not exactly this callcenter's."""
        db = await Database.open(dsn, busy_timeout_ms=busy_timeout_ms, readonly=readonly, name=name)
        try:
            await require_current(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, owns_half_life=False)

    @property
    def db(self) -> Database:
        return self._pg

    async def schema_status(self) -> tuple[int, int]:
        """(the database's schema version, the one this callcenter writes): equal when current (``/readyz``)."""
        return await schema_version(self._pg), len(bundled_migrations())
