"""The shared repositories put together: everything of ``callcenter.store.api.Store`` but how to open it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Self

import structlog

from callcenter.store.api import StoreWatch
from callcenter.store.models import CLIENT_TO_AGENT, Call, Direction, Evaluation
from callcenter.store.sql.agents import AgentRepository
from callcenter.store.sql.calls import CallRepository
from callcenter.store.sql.connection import Database
from callcenter.store.sql.evaluations import EvaluationRepository
from callcenter.store.sql.presence import PresenceRepository
from callcenter.store.sql.ratings import RatingRepository, recorded_decay
from callcenter.store.sql.reservations import ReservationRepository
from callcenter.store.sql.supervision import SupervisionRepository
from callcenter.store.sql.web import WebRepository

log = structlog.get_logger(__name__)


class SqlStore(
    AgentRepository,
    CallRepository,
    EvaluationRepository,
    RatingRepository,
    PresenceRepository,
    WebRepository,
    SupervisionRepository,
    ReservationRepository,
):
    """Implements ``callcenter.store.api.Store`` over one backend ``Database``; closing the store closes it."""

    # -- what changed, told after the commit ----------------------------------------------------------------------
    def watch(self, watcher: StoreWatch) -> None:
        """Tell ``watcher`` of every agent rating changed and every call answered through this store, after it is
        committed: whoever writes (the IVR, the journal's replay, the reaper, the demo's seeding, a test), an
        in-memory view built from the store (the kept ranking) follows. Other processes' writes are not seen
        here: they say so over AMI (``ami/rating_events.py``)."""
        self._watchers = (*self._watchers, watcher)

    _watchers: tuple[StoreWatch, ...] = ()

    async def record_evaluation(
        self, call_uniqueid: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation:
        evaluation = await super().record_evaluation(call_uniqueid, direction, scores, actor, now)
        await self._rated(evaluation)
        return evaluation

    async def delete_evaluation(
        self, call_uniqueid: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None:
        deleted = await super().delete_evaluation(call_uniqueid, direction, actor, reason, now)
        if deleted is not None:
            await self._rated(deleted)
        return deleted

    async def call_answered(self, uniqueid: str, agent_id: str, now: datetime) -> Call | None:
        call = await super().call_answered(uniqueid, agent_id, now)
        if call is not None:
            for watcher in self._watchers:
                try:
                    watcher.call_answered(call)
                except Exception:
                    log.exception("store_watcher_failed", call=uniqueid)
        return call

    async def _rated(self, evaluation: Evaluation) -> None:
        if evaluation.direction != CLIENT_TO_AGENT:
            return
        for watcher in self._watchers:
            try:
                await watcher.agent_rated(evaluation.agent_id)
            except Exception:
                # the write is committed: a watcher that failed must not make it look failed (and journaled again)
                log.exception("store_watcher_failed", agent=evaluation.agent_id)

    @property
    def sql(self) -> Database:
        """The database as the repositories use it (for tests and ``db copy``: backend-neutral SQL)."""
        return self._db

    @property
    def half_life_days(self) -> float | None:
        """The half-life this store keeps the decayed sums for as the serving process; None for no decay, and for
        a handle that follows the database (``open_migrated``, ``open_existing``: see ``rating_half_life``)."""
        return None if self._decay is None or self._decay.off else self._decay.half_life_days

    async def schema_status(self) -> tuple[int, int]:
        """(the database's schema version, the one this callcenter writes): each backend keeps its own."""
        raise NotImplementedError  # SqliteStore and PostgresStore say

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
