"""The shared repositories put together: everything of ``callcenter.store.api.Store`` but how to open it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from callcenter.store.sql.agents import AgentRepository
from callcenter.store.sql.calls import CallRepository
from callcenter.store.sql.connection import Database
from callcenter.store.sql.evaluations import EvaluationRepository
from callcenter.store.sql.presence import PresenceRepository
from callcenter.store.sql.ratings import RatingRepository, recorded_decay


class SqlStore(AgentRepository, CallRepository, EvaluationRepository, RatingRepository, PresenceRepository):
    """Implements ``callcenter.store.api.Store`` over one backend ``Database``; closing the store closes it."""

    @property
    def sql(self) -> Database:
        """The database as the repositories use it (for tests and ``db copy``: backend-neutral SQL)."""
        return self._db

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

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
