"""What supervisors watch, counted from the calls on record: each queue's and each service's calls since a moment
(the wallboard's "today"), how many were answered within the service-level threshold, how many abandoned; each
agent's answered calls and their accept and decline counts when screening.

Read-only, aggregated in SQL (one pass over the day's calls through ``calls_by_started``), never a row per call
brought into Python.
"""

from __future__ import annotations

from datetime import datetime

from callcenter.store.models import QueueDay, ScreenDecision
from callcenter.store.sql.connection import Row
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware

# CASE, not SUM(boolean): one spelling for SQLite and PostgreSQL
_COUNTS = (
    "COUNT(*) AS calls, "
    "SUM(CASE WHEN answered_at IS NOT NULL THEN 1 ELSE 0 END) AS answered, "
    "SUM(CASE WHEN answered_at IS NOT NULL AND hold_seconds <= ? THEN 1 ELSE 0 END) AS within, "
    "SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned, "
    # the hold time is fixed when the call ends: the service level judges the answered calls that ended
    "SUM(CASE WHEN answered_at IS NOT NULL AND ended_at IS NOT NULL THEN 1 ELSE 0 END) AS settled"
)


def _day(row: Row) -> QueueDay:
    return QueueDay(
        int(row["calls"]), int(row["answered"]), int(row["within"]), int(row["abandoned"]), int(row["settled"])
    )


class SupervisionRepository(Repository):
    async def queue_days(self, since: datetime, within_seconds: int) -> dict[str, QueueDay]:
        """Calls that joined each queue since ``since`` (``queue`` as Asterisk names it, ``agent-1001``,
        ``service-support``), and per service under ``service:<id>`` (every call that chose it, queued or not)."""
        at = aware(since)
        by_queue = await self._db.query(
            f"SELECT queue AS k, {_COUNTS} FROM calls WHERE started_at >= ? AND queue IS NOT NULL GROUP BY queue",
            (within_seconds, at),
        )
        by_service = await self._db.query(
            f"SELECT service_id AS k, {_COUNTS} FROM calls WHERE started_at >= ? AND service_id IS NOT NULL "
            "GROUP BY service_id",
            (within_seconds, at),
        )
        days = {row["k"]: _day(row) for row in by_queue}
        for row in by_service:
            days[f"service:{row['k']}"] = _day(row)
        return days

    async def agent_days(self, since: datetime) -> dict[str, dict[str, int]]:
        """Per agent since ``since``: ``answered`` calls and their screening decisions (``accept``, ``decline``,
        ``none``); agents with none of these are absent."""
        at = aware(since)
        answered = await self._db.query(
            "SELECT agent_id, COUNT(*) AS n FROM calls WHERE started_at >= ? AND answered_at IS NOT NULL "
            "GROUP BY agent_id",
            (at,),
        )
        decided = await self._db.query(
            "SELECT agent_id, decision, COUNT(*) AS n FROM screenings WHERE at >= ? GROUP BY agent_id, decision",
            (at,),
        )
        days: dict[str, dict[str, int]] = {}
        for row in answered:
            days.setdefault(row["agent_id"], {})["answered"] = int(row["n"])
        for row in decided:
            days.setdefault(row["agent_id"], {})[row["decision"]] = int(row["n"])
        return days

    async def call_outcomes(self, since: datetime) -> dict[str, int]:
        """Calls started since ``since`` by outcome; ``open`` for those still going (``/metrics``)."""
        rows = await self._db.query(
            "SELECT COALESCE(outcome, 'open') AS outcome, COUNT(*) AS n FROM calls WHERE started_at >= ? "
            "GROUP BY COALESCE(outcome, 'open')",
            (aware(since),),
        )
        return {row["outcome"]: int(row["n"]) for row in rows}

    async def record_screening(
        self, call_uniqueid: str, agent_id: str, decision: ScreenDecision, now: datetime
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO screenings (call_uniqueid, agent_id, at, decision) VALUES (?, ?, ?, ?)",
                (call_uniqueid, agent_id, aware(now), decision),
            )
