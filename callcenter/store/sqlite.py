"""The SQLite implementation of the store API: the repositories over one shared Database.

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
from types import TracebackType
from typing import Self

from callcenter.store.agents import AgentRepository
from callcenter.store.calls import CallRepository
from callcenter.store.db import DEFAULT_BUSY_TIMEOUT_MS, Database
from callcenter.store.decay import Decay
from callcenter.store.evaluations import EvaluationRepository
from callcenter.store.migrate import migrate, require_current
from callcenter.store.presence import PresenceRepository
from callcenter.store.ratings import RatingRepository, recorded_decay, sync_half_life


class SqliteStore(AgentRepository, CallRepository, EvaluationRepository, RatingRepository, PresenceRepository):
    """Implements ``callcenter.store.api.Store``. Closing the store closes its Database."""

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
            await sync_half_life(db, decay)
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
    def half_life_days(self) -> float | None:
        """The half-life this store keeps the decayed sums for as the serving process; None for no decay, and for
        a handle that follows the database (``open_migrated``, ``open_existing``: see ``rating_half_life``)."""
        return None if self._decay is None or self._decay.off else self._decay.half_life_days

    async def rating_half_life(self) -> float | None:
        """The half-life the database keeps its decayed sums for now (None: no decay), whoever set it."""
        async with self._db.read() as conn:
            decay = await recorded_decay(conn)
        return None if decay.off else decay.half_life_days

    @property
    def db(self) -> Database:
        return self._db

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
