"""The SQLite implementation of the store API: the repositories over one shared Database."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from callcenter.store.agents import AgentRepository
from callcenter.store.calls import CallRepository
from callcenter.store.db import DEFAULT_BUSY_TIMEOUT_MS, Database
from callcenter.store.decay import Decay
from callcenter.store.evaluations import EvaluationRepository
from callcenter.store.migrate import migrate
from callcenter.store.presence import PresenceRepository
from callcenter.store.ratings import RatingRepository, sync_half_life


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
        """Open (creating if needed) and migrate the database at ``path``: the usual way to start.

        ``half_life_days`` is the recency decay of the rating summaries' decayed values (None = no decay).
        If the database keeps its decayed sums for another half-life, they are recomputed here, once (a full
        scan of the evaluations, logged).
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

    @property
    def half_life_days(self) -> float | None:
        return None if self._decay.off else self._decay.half_life_days

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
