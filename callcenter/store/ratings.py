"""Rating totals: kept in step with evaluations, read back as summaries, and checked against a recount.

Routing reads a summary per call, so the totals are maintained incrementally (a few rows per evaluation
change) instead of aggregating all evaluations on every read; ``check_invariants`` is the recount that proves
the increments right.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

import aiosqlite

from callcenter.store._sql import Repository, chunks, execute, fetch_all, placeholders
from callcenter.store.errors import StoreError
from callcenter.store.models import (
    CLIENT_TO_AGENT,
    DIRECTIONS,
    OVERALL,
    CategoryStat,
    Direction,
    RatingSummary,
)

_AGENT_TOTALS: Final = ("agent_rating_totals", "agent_id")
_CLIENT_TOTALS: Final = ("client_rating_totals", "client_id")

Totals = dict[tuple[str, str], tuple[int, int]]  # (subject, category) -> (n, total)


def _table(direction: Direction) -> tuple[str, str]:
    # Callers rate agents; agents rate callers. The subject is whoever is rated.
    return _AGENT_TOTALS if direction == CLIENT_TO_AGENT else _CLIENT_TOTALS


async def add_to_totals(
    conn: aiosqlite.Connection, direction: Direction, subject: str | int, scores: Mapping[str, int]
) -> None:
    """Count one live evaluation with ``scores`` into its subject's totals."""
    table, key = _table(direction)
    rows = [(subject, category, 1, score) for category, score in scores.items()]
    rows.append((subject, OVERALL, 1, sum(scores.values())))
    await conn.executemany(
        f"INSERT INTO {table} ({key}, category_id, n, total) VALUES (?, ?, ?, ?) "
        f"ON CONFLICT ({key}, category_id) DO UPDATE SET n = n + excluded.n, total = total + excluded.total",
        rows,
    )


async def remove_from_totals(
    conn: aiosqlite.Connection, direction: Direction, subject: str | int, scores: Mapping[str, int]
) -> None:
    """Take one live evaluation with ``scores`` back out of its subject's totals."""
    table, key = _table(direction)
    # UPDATE, not an UPSERT with negative values: SQLite checks CHECK (n >= 0) on the row it would insert
    # before it notices the conflict.
    for category, n, total in [*((c, 1, s) for c, s in scores.items()), (OVERALL, 1, sum(scores.values()))]:
        changed = await execute(
            conn,
            f"UPDATE {table} SET n = n - ?, total = total - ? WHERE {key} = ? AND category_id = ?",
            (n, total, subject, category),
        )
        if changed != 1:
            # The totals no longer match the evaluations; refuse (and roll back) rather than drift further.
            raise StoreError(f"rating totals missing for {key} {subject} category {category!r}; run check")
    await execute(conn, f"DELETE FROM {table} WHERE {key} = ? AND n = 0", (subject,))


class RatingRepository(Repository):
    async def agent_summary(self, agent_id: str) -> RatingSummary:
        return (await self.agent_summaries([agent_id]))[agent_id]

    async def client_summary(self, client_id: int) -> RatingSummary:
        async with self._db.read() as conn:
            rows = await fetch_all(
                conn,
                "SELECT category_id, n, total FROM client_rating_totals WHERE client_id = ?",
                (client_id,),
            )
        return _summary({row["category_id"]: (row["n"], row["total"]) for row in rows})

    async def agent_summaries(self, agent_ids: Iterable[str]) -> dict[str, RatingSummary]:
        """Summaries of ratings received from callers, for every id asked (empty summary if none)."""
        ids = list(dict.fromkeys(agent_ids))
        per_agent: dict[str, dict[str, tuple[int, int]]] = {agent_id: {} for agent_id in ids}
        async with self._db.read() as conn:
            # One query per 500 agents, i.e. one query for any real roster.
            for chunk in chunks(ids):
                rows = await fetch_all(
                    conn,
                    "SELECT agent_id, category_id, n, total FROM agent_rating_totals "
                    f"WHERE agent_id IN ({placeholders(chunk)})",
                    chunk,
                )
                for row in rows:
                    per_agent[row["agent_id"]][row["category_id"]] = (row["n"], row["total"])
        return {agent_id: _summary(totals) for agent_id, totals in per_agent.items()}

    async def check_invariants(self) -> list[str]:
        """Recount everything from the evaluation rows: one line per discrepancy, [] if consistent."""
        problems: list[str] = []
        async with self._db.read() as conn:
            for direction in DIRECTIONS:
                table, key = _table(direction)
                stored = await _stored_totals(conn, table, key)
                recount = await _recount(conn, direction, key)
                problems.extend(_compare(table, key, stored, recount))
            problems.extend(await _evaluation_problems(conn))
        return problems


def _summary(totals: Mapping[str, tuple[int, int]]) -> RatingSummary:
    per_category = {
        category: CategoryStat(n=n, total=total, mean=total / n if n else None)
        for category, (n, total) in sorted(totals.items())
        if category != OVERALL
    }
    count, score_total = totals.get(OVERALL, (0, 0))
    score_count = sum(stat.n for stat in per_category.values())
    return RatingSummary(
        count=count,
        score_count=score_count,
        score_total=score_total,
        per_category=MappingProxyType(per_category),
        overall_mean=score_total / score_count if score_count else None,
    )


async def _stored_totals(conn: aiosqlite.Connection, table: str, key: str) -> Totals:
    rows = await fetch_all(conn, f"SELECT {key} AS subject, category_id, n, total FROM {table}")
    return {(str(row["subject"]), row["category_id"]): (row["n"], row["total"]) for row in rows}


async def _recount(conn: aiosqlite.Connection, direction: str, key: str) -> Totals:
    live = "e.deleted_at IS NULL AND e.direction = ?"
    rows: list[sqlite3.Row] = await fetch_all(
        conn,
        f"SELECT e.{key} AS subject, s.category_id AS category_id, COUNT(*) AS n, SUM(s.score) AS total "
        f"FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id WHERE {live} "
        f"GROUP BY e.{key}, s.category_id "
        "UNION ALL "
        f"SELECT e.{key}, ?, COUNT(DISTINCT e.id), SUM(s.score) "
        f"FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id WHERE {live} "
        f"GROUP BY e.{key}",
        (direction, OVERALL, direction),
    )
    return {(str(row["subject"]), row["category_id"]): (row["n"], row["total"]) for row in rows}


def _compare(table: str, key: str, stored: Totals, recount: Totals) -> list[str]:
    problems = []
    for subject, category in sorted(stored.keys() | recount.keys()):
        have = stored.get((subject, category), (0, 0))
        want = recount.get((subject, category), (0, 0))
        if have != want:
            problems.append(
                f"{table}: {key} {subject} category {category!r} stores n={have[0]} total={have[1]}, "
                f"evaluations give n={want[0]} total={want[1]}"
            )
    return problems


async def _evaluation_problems(conn: aiosqlite.Connection) -> list[str]:
    problems = [
        f"evaluation {row['id']} ({row['direction']}) is on call {row['uniqueid']} which was never answered"
        for row in await fetch_all(
            conn,
            "SELECT e.id, e.direction, c.uniqueid FROM evaluations e JOIN calls c ON c.id = e.call_id "
            "WHERE c.answered_at IS NULL ORDER BY e.id",
        )
    ]
    problems += [
        f"evaluation {row['id']} names agent {row['agent_id']} / client {row['client_id']}, but its call "
        f"{row['uniqueid']} has agent {row['call_agent']} / client {row['call_client']}"
        for row in await fetch_all(
            conn,
            "SELECT e.id, e.agent_id, e.client_id, c.uniqueid, c.agent_id AS call_agent, "
            "c.client_id AS call_client FROM evaluations e JOIN calls c ON c.id = e.call_id "
            "WHERE e.agent_id IS NOT c.agent_id OR e.client_id IS NOT c.client_id ORDER BY e.id",
        )
    ]
    problems += [
        f"evaluation {row['id']} is live but has no scores"
        for row in await fetch_all(
            conn,
            "SELECT e.id FROM evaluations e WHERE e.deleted_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM evaluation_scores s WHERE s.evaluation_id = e.id) ORDER BY e.id",
        )
    ]
    return problems
