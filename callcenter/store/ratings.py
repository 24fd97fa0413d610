"""Rating totals: kept in step with evaluations, read back as summaries, and checked against a recount.

Routing reads a summary per call, so the totals are maintained incrementally (a few rows per evaluation
change) instead of aggregating all evaluations on every read; ``check_invariants`` is the recount that proves
the increments right. Next to the exact integer totals each row keeps recency-decayed sums, maintained the same
way; the design (one half-life per database, set by the serving process, followed by every other writer and
reader; edits refresh a rating's age) is described in ``callcenter/store/decay.py``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

import aiosqlite

from callcenter.store._sql import Repository, execute, fetch_all, fetch_in, fetch_one, placeholders
from callcenter.store.db import Database
from callcenter.store.decay import ABS_TOL, HALF_LIFE_SETTING, OFF, Decay, close_enough
from callcenter.store.errors import StoreError
from callcenter.store.models import (
    CLIENT_TO_AGENT,
    DIRECTIONS,
    MAX_SCORE,
    MIN_SCORE,
    OVERALL,
    CategoryStat,
    Direction,
    RatingSummary,
)
from callcenter.store.timestamps import from_db, to_db

log = logging.getLogger(__name__)

_AGENT_TOTALS: Final = ("agent_rating_totals", "agent_id")
_CLIENT_TOTALS: Final = ("client_rating_totals", "client_id")

Totals = dict[tuple[str, str], tuple[int, int]]  # (subject, category) -> (n, total)


@dataclass(frozen=True, slots=True)
class _Row:
    """One totals row as read: exact counts and decayed sums (as of ``as_of``)."""

    n: int
    total: int
    dn: float
    dtotal: float
    as_of: datetime


@dataclass(frozen=True, slots=True)
class _Contribution:
    """What one live evaluation adds to one totals row: n (1) and total, given at ``at`` (its updated_at)."""

    at: datetime
    n: int
    total: int


def _table(direction: Direction) -> tuple[str, str]:
    # Callers rate agents; agents rate callers. The subject is whoever is rated.
    return _AGENT_TOTALS if direction == CLIENT_TO_AGENT else _CLIENT_TOTALS


def _deltas(scores: Mapping[str, int]) -> list[tuple[str, int, int]]:
    """(category, n, total) per row one evaluation counts in: its categories and the overall row."""
    return [*((c, 1, s) for c, s in scores.items()), (OVERALL, 1, sum(scores.values()))]


async def totals_decay(conn: aiosqlite.Connection, own: Decay | None) -> Decay:
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


async def recorded_decay(conn: aiosqlite.Connection) -> Decay:
    return decay_of(await _recorded_half_life(conn))


async def add_to_totals(
    conn: aiosqlite.Connection,
    direction: Direction,
    subject: str | int,
    scores: Mapping[str, int],
    *,
    decay: Decay,
    now: datetime,
) -> None:
    """Count one live evaluation with ``scores``, given at ``now`` (weight 1), into its subject's totals."""
    table, key = _table(direction)
    deltas = _deltas(scores)
    current = await _rows(conn, table, key, subject, [category for category, _, _ in deltas])
    rows = []
    for category, n, total in deltas:
        dn, dtotal, as_of = _moved(current.get(category), decay, now, given_at=now, sign=1, n=n, total=total)
        rows.append((subject, category, n, total, dn, dtotal, as_of))
    await conn.executemany(
        f"INSERT INTO {table} ({key}, category_id, n, total, dn, dtotal, as_of) VALUES (?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT ({key}, category_id) DO UPDATE SET n = n + excluded.n, total = total + excluded.total, "
        "dn = excluded.dn, dtotal = excluded.dtotal, as_of = excluded.as_of",
        rows,
    )


async def remove_from_totals(
    conn: aiosqlite.Connection,
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
    deltas = _deltas(scores)
    current = await _rows(conn, table, key, subject, [category for category, _, _ in deltas])
    # UPDATE, not an UPSERT with negative values: SQLite checks CHECK (n >= 0) on the row it would insert
    # before it notices the conflict.
    for category, n, total in deltas:
        row = current.get(category)
        if row is None:
            # The totals no longer match the evaluations; refuse (and roll back) rather than drift further.
            raise StoreError(f"rating totals missing for {key} {subject} category {category!r}; run check")
        dn, dtotal, as_of = _moved(row, decay, now, given_at=given_at, sign=-1, n=n, total=total)
        await execute(
            conn,
            f"UPDATE {table} SET n = n - ?, total = total - ?, dn = ?, dtotal = ?, as_of = ? "
            f"WHERE {key} = ? AND category_id = ?",
            (n, total, dn, dtotal, as_of, subject, category),
        )
    await execute(conn, f"DELETE FROM {table} WHERE {key} = ? AND n = 0", (subject,))


def _moved(
    row: _Row | None, decay: Decay, now: datetime, *, given_at: datetime, sign: int, n: int, total: int
) -> tuple[float, float, str]:
    """A row's decayed sums brought forward to max(as_of, now), with ``sign`` * (n, total) given at ``given_at``."""
    if row is None:
        dn, dtotal, ref = 0.0, 0.0, now
    else:
        ref = max(row.as_of, now)
        carry = decay.weight(row.as_of, ref)
        dn, dtotal = row.dn * carry, row.dtotal * carry
    weight = decay.weight(given_at, ref)
    # Subtraction can leave a hair below zero: clamp (the CHECK constraints would refuse it).
    return max(0.0, dn + sign * n * weight), max(0.0, dtotal + sign * total * weight), to_db(ref)


async def _rows(
    conn: aiosqlite.Connection, table: str, key: str, subject: str | int, categories: list[str]
) -> dict[str, _Row]:
    rows = await fetch_all(
        conn,
        f"SELECT category_id, n, total, dn, dtotal, as_of FROM {table} "
        f"WHERE {key} = ? AND category_id IN ({placeholders(categories)})",
        [subject, *categories],
    )
    return {row["category_id"]: _row(row) for row in rows}


def _row(row: sqlite3.Row) -> _Row:
    return _Row(row["n"], row["total"], float(row["dn"]), float(row["dtotal"]), from_db(row["as_of"]))


class RatingRepository(Repository):
    async def agent_summary(self, agent_id: str, now: datetime | None = None) -> RatingSummary:
        return (await self.agent_summaries([agent_id], now))[agent_id]

    async def client_summary(self, client_id: int, now: datetime | None = None) -> RatingSummary:
        at = _now(now)
        async with self._db.read() as conn:
            rows = await fetch_all(
                conn,
                f"SELECT category_id, n, total, dn, dtotal, as_of, {_RECORDED} FROM client_rating_totals "
                "WHERE client_id = ?",
                (client_id,),
            )
        return _summary({row["category_id"]: _row(row) for row in rows}, _read_decay(rows), at)

    async def agent_summaries(self, agent_ids: Iterable[str], now: datetime | None = None) -> dict[str, RatingSummary]:
        """Summaries of ratings received from callers, for every id asked (empty summary if none).

        The decayed values are as of ``now`` (default: the wall clock); reading never writes.
        """
        at = _now(now)
        ids = list(dict.fromkeys(agent_ids))
        per_agent: dict[str, dict[str, _Row]] = {agent_id: {} for agent_id in ids}
        async with self._db.read() as conn:
            rows = await fetch_in(
                conn,
                f"SELECT agent_id, category_id, n, total, dn, dtotal, as_of, {_RECORDED} FROM agent_rating_totals "
                "WHERE agent_id IN ({keys})",
                ids,
            )
        for row in rows:
            per_agent[row["agent_id"]][row["category_id"]] = _row(row)
        decay = _read_decay(rows)
        return {agent_id: _summary(totals, decay, at) for agent_id, totals in per_agent.items()}

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
                stored = await _stored_totals(conn, table, key)
                recount = await _recount(conn, direction, key)
                problems.extend(_compare(table, key, stored, recount))
                decayed = await _stored_decayed(conn, table, key)
                contributions = await _contributions(conn, direction, key)
                problems.extend(_compare_decayed(table, key, decayed, contributions, decay))
            problems.extend(await _evaluation_problems(conn))
        return problems


# The recorded half-life, read with the totals in the same query (an uncorrelated subquery runs once): the sums
# are as of their rows' as_of for that half-life and are carried forward to the reading time with it, whichever
# process recorded it. One query per summary read stays one query.
_RECORDED: Final = f"(SELECT value FROM settings WHERE key = '{HALF_LIFE_SETTING}') AS recorded_half_life"


def _read_decay(rows: Sequence[sqlite3.Row]) -> Decay:
    # no rows: nothing to carry forward, any decay gives the same empty summary
    return decay_of(rows[0]["recorded_half_life"]) if rows else Decay(None)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    to_db(now)  # refuses a naive datetime
    return now


def _summary(totals: Mapping[str, _Row], decay: Decay, now: datetime) -> RatingSummary:
    per_category: dict[str, CategoryStat] = {}
    for category, row in sorted(totals.items()):
        if category == OVERALL:
            continue
        dn, dtotal = _decayed_at(row, decay, now)
        per_category[category] = CategoryStat(
            n=row.n,
            total=row.total,
            mean=row.total / row.n if row.n else None,
            decayed_n=dn,
            decayed_total=dtotal,
            decayed_mean=_mean(dn, dtotal),
        )
    overall = totals.get(OVERALL)
    count, score_total = (overall.n, overall.total) if overall else (0, 0)
    decayed_count = _decayed_at(overall, decay, now)[0] if overall else 0.0
    score_count = sum(stat.n for stat in per_category.values())
    decayed_score_count = sum(stat.decayed_n for stat in per_category.values())
    decayed_score_total = sum(stat.decayed_total for stat in per_category.values())
    return RatingSummary(
        count=count,
        score_count=score_count,
        score_total=score_total,
        per_category=MappingProxyType(per_category),
        overall_mean=score_total / score_count if score_count else None,
        decayed_count=decayed_count,
        decayed_score_count=decayed_score_count,
        decayed_score_total=decayed_score_total,
        decayed_overall_mean=_mean(decayed_score_count, decayed_score_total),
    )


def _decayed_at(row: _Row, decay: Decay, now: datetime) -> tuple[float, float]:
    # Never forward from the past: reading before as_of gives the values as of as_of (weight() clamps at 1).
    carry = decay.weight(row.as_of, now)
    return row.dn * carry, row.dtotal * carry


def _mean(n: float, total: float) -> float | None:
    """A decayed mean, or None when (nearly) all weight has faded: below ABS_TOL (a rating some twenty
    half-lives old) the sums are as much rounding residue of removals as ratings, and the ratio means nothing."""
    if n < ABS_TOL:
        return None
    # Rounding may put a ratio of nearly equal sums a hair outside the score range.
    return min(float(MAX_SCORE), max(float(MIN_SCORE), total / n))


async def _recorded_half_life(conn: aiosqlite.Connection) -> str | None:
    row = await fetch_one(conn, "SELECT value FROM settings WHERE key = ?", (HALF_LIFE_SETTING,))
    return None if row is None else str(row["value"])


async def sync_half_life(db: Database, decay: Decay) -> bool:
    """Make the stored decayed sums those of ``decay``: a no-op if they are, else a one-off full recompute.

    Run by the serving process at start-up (``SqliteStore.open``), never by an operator's command, never on a call.
    Returns whether it recomputed.
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


async def _recompute(conn: aiosqlite.Connection, decay: Decay) -> int:
    """Every decayed sum recomputed from the evaluations for ``decay``, and ``decay`` recorded: in the caller's
    write transaction, so nobody ever sees the sums of one half-life next to the record of another."""
    rows = 0
    for direction in DIRECTIONS:
        table, key = _table(direction)
        contributions = await _contributions(conn, direction, key)
        await execute(conn, f"UPDATE {table} SET dn = 0, dtotal = 0")
        updates = []
        for (subject, category), given in contributions.items():
            as_of = max(c.at for c in given)
            dn, dtotal = _decayed_sum(given, decay, as_of)
            updates.append((dn, dtotal, to_db(as_of), subject, category))
        await conn.executemany(
            f"UPDATE {table} SET dn = ?, dtotal = ?, as_of = ? WHERE {key} = ? AND category_id = ?", updates
        )
        rows += len(updates)
    await execute(
        conn,
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (HALF_LIFE_SETTING, decay.setting),
    )
    return rows


def _decayed_sum(given: Iterable[_Contribution], decay: Decay, as_of: datetime) -> tuple[float, float]:
    dn = dtotal = 0.0
    for c in given:
        weight = decay.weight(c.at, as_of)
        dn += c.n * weight
        dtotal += c.total * weight
    return dn, dtotal


async def _contributions(
    conn: aiosqlite.Connection, direction: str, key: str
) -> dict[tuple[str, str], list[_Contribution]]:
    """Every live evaluation's share of every totals row, straight from the evaluation rows (a full scan)."""
    rows = await fetch_all(
        conn,
        f"SELECT e.{key} AS subject, e.id, e.updated_at, s.category_id, s.score "
        "FROM evaluations e JOIN evaluation_scores s ON s.evaluation_id = e.id "
        "WHERE e.deleted_at IS NULL AND e.direction = ? ORDER BY e.id",
        (direction,),
    )
    found: dict[tuple[str, str], list[_Contribution]] = {}
    overall: dict[int, tuple[str, datetime, int]] = {}
    for row in rows:
        subject, at = str(row["subject"]), from_db(row["updated_at"])
        found.setdefault((subject, row["category_id"]), []).append(_Contribution(at, 1, row["score"]))
        _, _, total = overall.get(row["id"], (subject, at, 0))
        overall[row["id"]] = (subject, at, total + row["score"])
    for subject, at, total in overall.values():
        found.setdefault((subject, OVERALL), []).append(_Contribution(at, 1, total))
    return found


async def _stored_decayed(conn: aiosqlite.Connection, table: str, key: str) -> dict[tuple[str, str], _Row]:
    rows = await fetch_all(conn, f"SELECT {key} AS subject, category_id, n, total, dn, dtotal, as_of FROM {table}")
    return {(str(row["subject"]), row["category_id"]): _row(row) for row in rows}


def _compare_decayed(
    table: str,
    key: str,
    stored: Mapping[tuple[str, str], _Row],
    contributions: Mapping[tuple[str, str], list[_Contribution]],
    decay: Decay,
) -> list[str]:
    problems = []
    for subject, category in sorted(stored.keys() | contributions.keys()):
        given = contributions.get((subject, category), [])
        row = stored.get((subject, category))
        if row is None:
            continue  # a missing row is already reported by the exact comparison
        late = [c.at for c in given if c.at > row.as_of]
        if late:
            problems.append(
                f"{table}: {key} {subject} category {category!r} is as of {to_db(row.as_of)}, "
                f"but counts a rating given at {to_db(max(late))}"
            )
        dn, dtotal = _decayed_sum(given, decay, row.as_of)
        if not (close_enough(row.dn, dn) and close_enough(row.dtotal, dtotal)):
            problems.append(
                f"{table}: {key} {subject} category {category!r} stores decayed n={row.dn:.9g} "
                f"total={row.dtotal:.9g} as of {to_db(row.as_of)}, evaluations give n={dn:.9g} total={dtotal:.9g}"
            )
    return problems


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
