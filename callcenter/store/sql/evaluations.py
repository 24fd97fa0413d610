"""Mutual evaluations: one per call and direction, replaceable, soft-deletable, every change audited.

Who rates whom is never taken from the caller of this API: it comes from the call row (the agent who answered,
the client behind the caller number), so a flow cannot attribute a rating to the wrong person, and a call that
nobody answered, or whose caller withheld the number, cannot be rated at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from callcenter.store.errors import EvaluationRefused, RefusalReason
from callcenter.store.models import (
    CLIENT_TO_AGENT,
    DIRECTIONS,
    MAX_SCORE,
    MIN_SCORE,
    AuditAction,
    AuditEntry,
    Direction,
    Evaluation,
    EvaluationChange,
)
from callcenter.store.sql.connection import Conn, Row
from callcenter.store.sql.ratings import add_to_totals, remove_from_totals, totals_decay
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware, from_db, maybe_from_db

_SELECT = (
    "SELECT e.id, e.call_id, c.uniqueid AS call_uniqueid, e.direction, e.agent_id, e.client_id, "
    "e.created_at, e.updated_at, e.deleted_at FROM evaluations e JOIN calls c ON c.id = e.call_id"
)


class EvaluationRepository(Repository):
    async def record_evaluation(
        self, call_uniqueid: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation:
        """Record (or replace) the ``direction`` evaluation of a call; EvaluationRefused if it may not be.

        Scores are 1-5 per category, at least one category, unknown categories refused. Recording again
        replaces the scores; recording a deleted evaluation revives it; recording identical scores changes
        nothing (no audit row).
        """
        _check_direction(direction)
        _check_actor(actor)
        new = _checked_scores(scores)
        at = aware(now)
        async with self._db.transaction() as conn:
            call = await conn.fetch_one(
                "SELECT id, agent_id, client_id, answered_at FROM calls WHERE uniqueid = ?",
                (call_uniqueid,),
            )
            if call is None:
                raise EvaluationRefused(RefusalReason.UNKNOWN_CALL, f"no call {call_uniqueid!r}")
            if call["answered_at"] is None or call["agent_id"] is None:
                raise EvaluationRefused(RefusalReason.NOT_ANSWERED, f"call {call_uniqueid} was not answered")
            if call["client_id"] is None:
                raise EvaluationRefused(RefusalReason.ANONYMOUS, f"call {call_uniqueid} has no caller number")
            await _check_categories(conn, new)
            # re-read here, not cached at open: another process may have changed it since
            decay = await totals_decay(conn, self._decay)
            subject = call["agent_id"] if direction == CLIENT_TO_AGENT else call["client_id"]
            row = await conn.fetch_one(
                "SELECT id, updated_at, deleted_at FROM evaluations WHERE call_id = ? AND direction = ?",
                (call["id"], direction),
            )
            # Scores count in the decayed totals from when they were given: now, for new or changed scores (an
            # edit refreshes a rating's age); the old scores leave with the age they had (their updated_at).
            if row is None:
                evaluation_id = await conn.insert(
                    "INSERT INTO evaluations (call_id, direction, agent_id, client_id, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (call["id"], direction, call["agent_id"], call["client_id"], at, at),
                )
                await _write_scores(conn, evaluation_id, new)
                await add_to_totals(conn, direction, subject, new, decay=decay, now=now)
                await _audit(conn, evaluation_id, at=at, actor=actor, action="create", old=None, new=new)
            else:
                evaluation_id = row["id"]
                old = await _scores(conn, evaluation_id)
                if row["deleted_at"] is not None:
                    if not actor.startswith("operator:") and await _removed_by_operator(conn, evaluation_id):
                        # an operator took it out (e.g. abusive): the rater cannot put it back
                        raise EvaluationRefused(
                            RefusalReason.REMOVED, f"the {direction} evaluation of {call_uniqueid} was removed"
                        )
                    await _write_scores(conn, evaluation_id, new)
                    await add_to_totals(conn, direction, subject, new, decay=decay, now=now)
                    await conn.execute(
                        "UPDATE evaluations SET deleted_at = NULL, updated_at = ? WHERE id = ?",
                        (at, evaluation_id),
                    )
                    # The old scores were not live: the audit shows live state, so a revive starts from none.
                    await _audit(conn, evaluation_id, at=at, actor=actor, action="revive", old=None, new=new)
                elif old != new:
                    given_at = from_db(row["updated_at"])
                    await remove_from_totals(conn, direction, subject, old, decay=decay, now=now, given_at=given_at)
                    await _write_scores(conn, evaluation_id, new)
                    await add_to_totals(conn, direction, subject, new, decay=decay, now=now)
                    await conn.execute("UPDATE evaluations SET updated_at = ? WHERE id = ?", (at, evaluation_id))
                    await _audit(conn, evaluation_id, at=at, actor=actor, action="update", old=old, new=new)
            return await _load_one(conn, "e.id = ?", (evaluation_id,))

    async def delete_evaluation(
        self, call_uniqueid: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None:
        """Soft-delete: the evaluation stops counting but stays readable, with its audit trail.

        None if there is no such evaluation; deleting a deleted one changes nothing.
        """
        _check_direction(direction)
        _check_actor(actor)
        at = aware(now)
        async with self._db.transaction() as conn:
            found = await _load(conn, "c.uniqueid = ? AND e.direction = ?", (call_uniqueid, direction))
            if not found:
                return None
            evaluation = found[0]
            if evaluation.deleted:
                return evaluation
            decay = await totals_decay(conn, self._decay)
            await remove_from_totals(
                conn,
                direction,
                evaluation.subject,
                evaluation.scores,
                decay=decay,
                now=now,
                given_at=evaluation.updated_at,
            )
            await conn.execute(
                "UPDATE evaluations SET deleted_at = ?, updated_at = ? WHERE id = ?",
                (at, at, evaluation.id),
            )
            await _audit(
                conn,
                evaluation.id,
                at=at,
                actor=actor,
                action="delete",
                old=evaluation.scores,
                new=None,
                reason=reason,
            )
            return await _load_one(conn, "e.id = ?", (evaluation.id,))

    async def get_evaluation(self, call_uniqueid: str, direction: Direction) -> Evaluation | None:
        """The evaluation, deleted or not (check ``deleted``)."""
        async with self._db.read() as conn:
            found = await _load(conn, "c.uniqueid = ? AND e.direction = ?", (call_uniqueid, direction))
        return found[0] if found else None

    async def list_evaluations(
        self,
        agent_id: str | None = None,
        client_id: int | None = None,
        direction: Direction | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
    ) -> list[Evaluation]:
        """Newest first. agent_id/client_id filter on the call's parties, whichever way the rating went."""
        where: list[str] = []
        params: list[object] = []
        filters = (("e.agent_id", agent_id), ("e.client_id", client_id), ("e.direction", direction))
        for column, value in filters:
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if not include_deleted:
            where.append("e.deleted_at IS NULL")
        async with self._db.read() as conn:
            return await _load(conn, " AND ".join(where) or "TRUE", params, limit=limit)

    async def evaluation_history(self, evaluation_id: int) -> list[AuditEntry]:
        """Every change to the evaluation, oldest first."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT * FROM evaluation_audit WHERE evaluation_id = ? ORDER BY id", (evaluation_id,)
            )
        return [_audit_entry(row) for row in rows]

    async def evaluation_changes(
        self,
        *,
        call_uniqueid: str | None = None,
        agent_id: str | None = None,
        client_id: int | None = None,
        limit: int | None = None,
    ) -> list[EvaluationChange]:
        """The audit trail across evaluations, newest first: of one call, and/or of the calls of one agent or
        one client (whichever way the rating went). With no filter and a limit: the ``limit`` changes written last
        (a journal replays old ones late), newest first."""
        where: list[str] = []
        params: list[object] = []
        for column, value in (("c.uniqueid", call_uniqueid), ("e.agent_id", agent_id), ("e.client_id", client_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        audit = "evaluation_audit"
        if not where and limit is not None:
            # the whole trail's newest: the last rows written (the primary key's order), not a sort of every row
            # ever written by time (a full scan of millions of rows, on the loop, for the wallboard's recent list)
            audit = "(SELECT * FROM evaluation_audit ORDER BY id DESC LIMIT ?)"
            params.append(max(0, limit))
        sql = (
            "SELECT a.*, c.uniqueid AS call_uniqueid, e.direction, e.agent_id, e.client_id "
            f"FROM {audit} a JOIN evaluations e ON e.id = a.evaluation_id JOIN calls c ON c.id = e.call_id "
            f"WHERE {' AND '.join(where) or 'TRUE'} ORDER BY a.at DESC, a.id DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, limit))
        async with self._db.read() as conn:
            rows = await conn.fetch_all(sql, params)
        return [
            EvaluationChange(
                entry=_audit_entry(row),
                call_uniqueid=row["call_uniqueid"],
                direction=row["direction"],
                agent_id=row["agent_id"],
                client_id=row["client_id"],
            )
            for row in rows
        ]


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def _check_actor(actor: str) -> None:
    # An audit row without an actor cannot answer "who did this"; "ivr" or an agent id will do.
    if not actor.strip():
        raise ValueError("actor must name who makes the change (e.g. 'ivr', an agent id, an operator)")


def _checked_scores(scores: Mapping[str, int]) -> dict[str, int]:
    # Scores come from keypad input via the IVR: check types too, not only ranges (True is an int in Python).
    if not scores:
        raise EvaluationRefused(RefusalReason.BAD_SCORE, "at least one category must be scored")
    checked: dict[str, int] = {}
    for category, score in scores.items():
        if not isinstance(category, str):
            raise EvaluationRefused(RefusalReason.UNKNOWN_CATEGORY, f"category {category!r} is not a name")
        if type(score) is not int or not MIN_SCORE <= score <= MAX_SCORE:
            raise EvaluationRefused(
                RefusalReason.BAD_SCORE,
                f"score for {category!r} must be {MIN_SCORE}-{MAX_SCORE}, got {score!r}",
            )
        checked[category] = score
    return checked


async def _check_categories(conn: Conn, scores: Mapping[str, int]) -> None:
    names = list(scores)
    rows = await conn.fetch_in("SELECT id FROM categories WHERE active AND id {in_keys}", names)
    unknown = sorted(set(names) - {row["id"] for row in rows})
    if unknown:
        raise EvaluationRefused(RefusalReason.UNKNOWN_CATEGORY, f"unknown category {', '.join(unknown)}")


async def _removed_by_operator(conn: Conn, evaluation_id: int) -> bool:
    row = await conn.fetch_one(
        "SELECT actor FROM evaluation_audit WHERE evaluation_id = ? AND action = 'delete' ORDER BY id DESC LIMIT 1",
        (evaluation_id,),
    )
    return row is not None and str(row["actor"]).startswith("operator:")


async def _write_scores(conn: Conn, evaluation_id: int, scores: Mapping[str, int]) -> None:
    await conn.execute("DELETE FROM evaluation_scores WHERE evaluation_id = ?", (evaluation_id,))
    await conn.execute_many(
        "INSERT INTO evaluation_scores (evaluation_id, category_id, score) VALUES (?, ?, ?)",
        [(evaluation_id, category, score) for category, score in scores.items()],
    )


async def _scores(conn: Conn, evaluation_id: int) -> dict[str, int]:
    rows = await conn.fetch_all(
        "SELECT category_id, score FROM evaluation_scores WHERE evaluation_id = ?", (evaluation_id,)
    )
    return {row["category_id"]: row["score"] for row in rows}


async def _audit(
    conn: Conn,
    evaluation_id: int,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    old: Mapping[str, int] | None,
    new: Mapping[str, int] | None,
    reason: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO evaluation_audit (evaluation_id, at, actor, action, old_scores, new_scores, reason) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (evaluation_id, at, actor, action, _to_json(old), _to_json(new), reason),
    )


def _to_json(scores: Mapping[str, int] | None) -> str | None:
    # Sorted keys: the same scores always serialise the same way, so audit rows compare as text.
    return None if scores is None else json.dumps(dict(sorted(scores.items())), separators=(",", ":"))


def _from_json(text: str | None) -> Mapping[str, int] | None:
    if text is None:
        return None
    return MappingProxyType({str(k): int(v) for k, v in json.loads(text).items()})


async def _load(conn: Conn, where: str, params: Sequence[object], limit: int | None = None) -> list[Evaluation]:
    sql = f"{_SELECT} WHERE {where} ORDER BY e.created_at DESC, e.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params = [*params, max(0, limit)]
    rows = await conn.fetch_all(sql, params)
    ids = [row["id"] for row in rows]
    scores: dict[int, dict[str, int]] = {evaluation_id: {} for evaluation_id in ids}
    for score in await conn.fetch_in(
        "SELECT evaluation_id, category_id, score FROM evaluation_scores WHERE evaluation_id {in_keys}", ids
    ):
        scores[score["evaluation_id"]][score["category_id"]] = score["score"]
    return [_evaluation(row, scores[row["id"]]) for row in rows]


async def _load_one(conn: Conn, where: str, params: tuple[object, ...]) -> Evaluation:
    found = await _load(conn, where, params)
    assert len(found) == 1, (where, params)
    return found[0]


def _evaluation(row: Row, scores: dict[str, int]) -> Evaluation:
    return Evaluation(
        id=row["id"],
        call_id=row["call_id"],
        call_uniqueid=row["call_uniqueid"],
        direction=row["direction"],
        agent_id=row["agent_id"],
        client_id=row["client_id"],
        scores=MappingProxyType(dict(sorted(scores.items()))),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        deleted_at=maybe_from_db(row["deleted_at"]),
    )


def _audit_entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        evaluation_id=row["evaluation_id"],
        at=from_db(row["at"]),
        actor=row["actor"],
        action=row["action"],
        old_scores=_from_json(row["old_scores"]),
        new_scores=_from_json(row["new_scores"]),
        reason=row["reason"],
    )
