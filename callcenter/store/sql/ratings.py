"""Rating totals: kept in step with evaluations, read back as summaries, and checked against a recount.

Routing reads a summary per call, so the totals are maintained incrementally (a few rows per evaluation
change) instead of aggregating all evaluations on every read; ``check_invariants`` is the recount that proves
the increments right. Next to the exact integer totals each row keeps recency-decayed sums, maintained the same
way; the design (one half-life per database, set by the serving process, followed by every other writer and
reader; edits refresh a rating's age) is described in ``callcenter/store/decay.py``, the arithmetic is in
``callcenter/store/aggregates.py``. Every function here that changes totals reads them, computes and writes them
back: it relies on the write transaction excluding every other writer (``connection.Database``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

from callcenter.store import aggregates
from callcenter.store.aggregates import Totals, TotalsRow
from callcenter.store.decay import HALF_LIFE_SETTING, OFF, Decay
from callcenter.store.errors import StoreError
from callcenter.store.models import CLIENT_TO_AGENT, DIRECTIONS, OVERALL, Direction, RatingSummary
from callcenter.store.sql.connection import Conn, Database, Row
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware, from_db

log = logging.getLogger(__name__)

_AGENT_TOTALS: Final = ("agent_rating_totals", "agent_id")
_CLIENT_TOTALS: Final = ("client_rating_totals", "client_id")


def _table(direction: Direction | str) -> tuple[str, str]:
    # Callers rate agents; agents rate callers. The subject is whoever is rated.
    return _AGENT_TOTALS if direction == CLIENT_TO_AGENT else _CLIENT_TOTALS


async def totals_decay(conn: Conn, own: Decay | None) -> Decay:
    """The half-life to keep the decayed sums for in this write transaction, read inside it.

    The sums and the recorded half-life always change together (one transaction), so a writer that follows the
    record never mixes two half-lives, whoever changed it since this store was opened. ``own`` is the half-life of
    the serving process, which owns the setting: if another process changed it, the sums are put back to ``own``
    here (a full recompute, once) instead of refusing the write, so the service never loses a rating over it.
    ``own=None`` (an operator's handle) follows whatever the database records.
    """
    recorded = await _recorded_half_life(conn)
    if own is None or recorded == own.setting:
        return decay_of(recorded)
    rows = await _recompute(conn, own)
    log.warning(
        "rating half-life was changed to %s by another process; this service keeps %s: recomputed the decayed "
        "sums of %d rating totals rows",
        _days(recorded),
        _days(own.setting),
        rows,
    )
    return own


def _days(setting: str | None) -> str:
    return "no decay" if setting in (None, OFF) else f"{setting} days"


def decay_of(setting: str | None) -> Decay:
    """The Decay a recorded setting stands for: 'off' (or no record, as before schema 3) is no decay."""
    if setting is None or setting == OFF:
        return Decay(None)
    try:
        return Decay(float(setting))
    except ValueError:
        raise StoreError(f"settings: {HALF_LIFE_SETTING} is {setting!r}, not 'off' or a half-life in days") from None


async def recorded_decay(conn: Conn) -> Decay:
    return decay_of(await _recorded_half_life(conn))


async def add_to_totals(
    conn: Conn,
    direction: Direction,
    subject: str | int,
    scores: Mapping[str, int],
    *,
    decay: Decay,
    now: datetime,
) -> None:
    """Count one live evaluation with ``scores``, given at ``now`` (weight 1), into its subject's totals."""
    table, key = _table(direction)
    deltas = aggregates.deltas(scores)
    current = await _rows(conn, table, key, subject, [category for category, _, _ in deltas])
    rows = []
    for category, n, total in deltas:
        dn, dtotal, as_of = aggregates.moved(current.get(category), decay, now, given_at=now, sign=1, n=n, total=total)
        rows.append((subject, category, n, total, dn, dtotal, as_of))
    await conn.execute_many(
        f"INSERT INTO {table} ({key}, category_id, n, total, dn, dtotal, as_of) VALUES (?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT ({key}, category_id) DO UPDATE SET n = {table}.n + excluded.n, "
        f"total = {table}.total + excluded.total, dn = excluded.dn, dtotal = excluded.dtotal, as_of = excluded.as_of",
        rows,
    )


async def remove_from_totals(
    conn: Conn,
    direction: Direction,
    subject: str | int,
    scores: Mapping[str, int],
    *,
    decay: Decay,
    now: datetime,
    given_at: datetime,
) -> None:
    """Take one live evaluation with ``scores``, given at ``given_at`` (its updated_at), back out of its totals."""
    table, key = _table(direction)
    deltas = aggregates.deltas(scores)
    current = await _rows(conn, table, key, subject, [category for category, _, _ in deltas])
    # UPDATE, not an UPSERT with negative values: SQLite checks CHECK (n >= 0) on the row it would insert
    # before it notices the conflict.
    updates = []
    for category, n, total in deltas:
        row = current.get(category)
        if row is None:
            # The totals no longer match the evaluations; refuse (and roll back) rather than drift further.
            raise StoreError(f"rating totals missing for {key} {subject} category {category!r}; run check")
        dn, dtotal, as_of = aggregates.moved(row, decay, now, given_at=given_at, sign=-1, n=n, total=total)
        updates.append((n, total, dn, dtotal, as_of, subject, category))
    await conn.execute_many(
        f"UPDATE {table} SET n = n - ?, total = total - ?, dn = ?, dtotal = ?, as_of = ? "
        f"WHERE {key} = ? AND category_id = ?",
        updates,
    )
    await conn.execute(f"DELETE FROM {table} WHERE {key} = ? AND n = 0", (subject,))


async def _rows(conn: Conn, table: str, key: str, subject: str | int, categories: list[str]) -> dict[str, TotalsRow]:
    rows = await conn.fetch_in(
        f"SELECT category_id, n, total, dn, dtotal, as_of FROM {table} WHERE {key} = ? AND category_id {{in_keys}}",
        categories,
        (subject,),
    )
    return {row["category_id"]: _row(row) for row in rows}


def _row(row: Row) -> TotalsRow:
    return TotalsRow(int(row["n"]), int(row["total"]), float(row["dn"]), float(row["dtotal"]), from_db(row["as_of"]))


class RatingRepository(Repository):
    async def agent_summary(self, agent_id: str, now: datetime | None = None) -> RatingSummary:
        return (await self.agent_summaries([agent_id], now))[agent_id]

    async def client_summary(self, client_id: int, now: datetime | None = None) -> RatingSummary:
        at = _now(now)
        rows = await self._db.query(
            f"SELECT category_id, n, total, dn, dtotal, as_of, {_RECORDED} FROM client_rating_totals "
            "WHERE client_id = ?",
            (client_id,),
        )
        return aggregates.summary({row["category_id"]: _row(row) for row in rows}, _read_decay(rows), at)

    async def agent_summaries(self, agent_ids: Iterable[str], now: datetime | None = None) -> dict[str, RatingSummary]:
        """Summaries of ratings received from callers, for every id asked (empty summary if none).

        The decayed values are as of ``now`` (default: the wall clock); reading never writes.
        """
        at = _now(now)
        ids = list(dict.fromkeys(agent_ids))
        per_agent: dict[str, dict[str, TotalsRow]] = {agent_id: {} for agent_id in ids}
        rows = await self._db.query_in(
            f"SELECT agent_id, category_id, n, total, dn, dtotal, as_of, {_RECORDED} FROM agent_rating_totals "
            "WHERE agent_id {in_keys}",
            ids,
        )
        for row in rows:
            per_agent[row["agent_id"]][row["category_id"]] = _row(row)
        decay = _read_decay(rows)
        return {agent_id: aggregates.summary(totals, decay, at) for agent_id, totals in per_agent.items()}

    async def check_invariants(self) -> list[str]:
        """Recount everything from the evaluation rows: one line per discrepancy, [] if consistent."""
        problems: list[str] = []
        async with self._db.read() as conn:
            recorded = await _recorded_half_life(conn)
            decay = decay_of(recorded)
            if self._decay is not None and recorded != self._decay.setting:
                problems.append(
                    f"settings: decayed totals are kept for half-life {recorded!r}, "
                    f"the service is configured with {self._decay.setting!r} (it puts its own back at its next write)"
                )
            for direction in DIRECTIONS:
                table, key = _table(direction)
                stored = await _stored_rows(conn, table, key)
                exact: Totals = {k: (row.n, row.total) for k, row in stored.items()}
                problems.extend(aggregates.compare(table, key, exact, await _recount(conn, direction, key)))
                given = aggregates.contributions(await _live_scores(conn, direction, key))
                problems.extend(aggregates.compare_decayed(table, key, stored, given, decay))
            problems.extend(await _evaluation_problems(conn))
        return problems


# The recorded half-life, read with the totals in the same query (an uncorrelated subquery runs once): the sums
# are as of their rows' as_of for that half-life and are carried forward to the reading time with it, whichever
# process recorded it. One query per summary read stays one query.
_RECORDED: Final = f"(SELECT value FROM settings WHERE key = '{HALF_LIFE_SETTING}') AS recorded_half_life"


def _read_decay(rows: Sequence[Row]) -> Decay:
    # no rows: nothing to carry forward, any decay gives the same empty summary
    return decay_of(rows[0]["recorded_half_life"]) if rows else Decay(None)


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else aware(now)  # aware() refuses a naive datetime


async def _recorded_half_life(conn: Conn) -> str | None:
    value = await conn.fetch_value("SELECT value FROM settings WHERE key = ?", (HALF_LIFE_SETTING,))
    return None if value is None else str(value)


async def sync_half_life(db: Database, decay: Decay) -> bool:
    """Make the stored decayed sums those of ``decay``: a no-op if they are, else a one-off full recompute.

    Run by the serving process at start-up, never by an operator's command, never on a call. Returns whether it
    recomputed.
    """
    async with db.transaction() as conn:
        recorded = await _recorded_half_life(conn)
        if recorded == decay.setting:
            return False
        rows = await _recompute(conn, decay)
    # A fresh (or rating-less) database only records its half-life; anything else was a full recompute.
    log.log(
        logging.WARNING if rows else logging.INFO,
        "rating half-life changed from %s to %s days: recomputed the decayed sums of %d rating totals rows",
        recorded,
        decay.setting,
        rows,
    )
    return True


async def _recompute(conn: Conn, decay: Decay) -> int:
    """Every decayed sum recomputed from the evaluations for ``decay``, and ``decay`` recorded: in the caller's
    write transaction, so nobody ever sees the sums of one half-life next to the record of another."""
    rows = 0
    for direction in DIRECTIONS:
        table, key = _table(direction)
        given = aggregates.contributions(await _live_scores(conn, direction, key))
        await conn.execute(f"UPDATE {table} SET dn = 0, dtotal = 0")
        updates = []
        for (subject, category), counted in given.items():
            as_of = max(c.at for c in counted)
            dn, dtotal = aggregates.decayed_sum(counted, decay, as_of)
            updates.append((dn, dtotal, as_of, _subject(key, subject), category))
        await conn.execute_many(
            f"UPDATE {table} SET dn = ?, dtotal = ?, as_of = ? WHERE {key} = ? AND category_id = ?", updates
        )
        rows += len(updates)
    await conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (HALF_LIFE_SETTING, decay.setting),
    )
    return rows


def _subject(key: str, subject: str) -> str | int:
    # the aggregates key every subject by its text; a client's id goes back to the database as the integer it is
    return int(subject) if key == "client_id" else subject


async def _live_scores(conn: Conn, direction: str, key: str) -> list[aggregates.Score]:
    """Every score of every live evaluation in ``direction`` (a full scan), in evaluation order."""
    rows = await conn.fetch_all(
        f"SELECT e.{key} AS subject, e.id, e.updated_at, s.category_id, s.score "
        "FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id "
        "WHERE e.deleted_at IS NULL AND e.direction = ? ORDER BY e.id",
        (direction,),
    )
    return [
        aggregates.Score(str(row["subject"]), row["id"], from_db(row["updated_at"]), row["category_id"], row["score"])
        for row in rows
    ]


async def _stored_rows(conn: Conn, table: str, key: str) -> dict[tuple[str, str], TotalsRow]:
    rows = await conn.fetch_all(f"SELECT {key} AS subject, category_id, n, total, dn, dtotal, as_of FROM {table}")
    return {(str(row["subject"]), row["category_id"]): _row(row) for row in rows}


async def _recount(conn: Conn, direction: str, key: str) -> Totals:
    live = "e.deleted_at IS NULL AND e.direction = ?"
    rows = await conn.fetch_all(
        f"SELECT e.{key} AS subject, s.category_id AS category_id, COUNT(*) AS n, SUM(s.score) AS total "
        f"FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id WHERE {live} "
        f"GROUP BY e.{key}, s.category_id "
        "UNION ALL "
        f"SELECT e.{key}, CAST(? AS TEXT), COUNT(DISTINCT e.id), SUM(s.score) "
        f"FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id WHERE {live} "
        f"GROUP BY e.{key}",
        (direction, OVERALL, direction),
    )
    return {(str(row["subject"]), row["category_id"]): (int(row["n"]), int(row["total"])) for row in rows}


async def _evaluation_problems(conn: Conn) -> list[str]:
    problems = [
        f"evaluation {row['id']} ({row['direction']}) is on call {row['uniqueid']} which was never answered"
        for row in await conn.fetch_all(
            "SELECT e.id, e.direction, c.uniqueid FROM evaluations e JOIN calls c ON c.id = e.call_id "
            "WHERE c.answered_at IS NULL ORDER BY e.id",
        )
    ]
    problems += [
        f"evaluation {row['id']} names agent {row['agent_id']} / client {row['client_id']}, but its call "
        f"{row['uniqueid']} has agent {row['call_agent']} / client {row['call_client']}"
        for row in await conn.fetch_all(
            "SELECT e.id, e.agent_id, e.client_id, c.uniqueid, c.agent_id AS call_agent, "
            "c.client_id AS call_client FROM evaluations e JOIN calls c ON c.id = e.call_id "
            # an evaluation's agent_id and client_id are NOT NULL: this is "IS DISTINCT FROM" (SQLite's IS NOT),
            # spelt so that every SQLite from 3.24 on and PostgreSQL read it the same
            "WHERE c.agent_id IS NULL OR c.client_id IS NULL OR e.agent_id <> c.agent_id "
            "OR e.client_id <> c.client_id ORDER BY e.id",
        )
    ]
    problems += [
        f"evaluation {row['id']} is live but has no scores"
        for row in await conn.fetch_all(
            "SELECT e.id FROM evaluations e WHERE e.deleted_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM evaluation_scores s WHERE s.evaluation_id = e.id) ORDER BY e.id",
        )
    ]
    return problems
