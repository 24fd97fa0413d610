"""Operators' view of evaluations: list them, remove an abusive one with a reason (soft delete, audited)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from callcenter.evaluation.rules import Rater, RatingRules, may_rate
from callcenter.reports import find_client
from callcenter.store import Direction, Evaluation, SqliteStore

DIRECTION_NAMES: dict[str, Direction] = {"caller-to-agent": "client_to_agent", "agent-to-caller": "agent_to_client"}


async def list_evaluations(
    store: SqliteStore, *, agent_id: str | None, number: str | None, include_deleted: bool, limit: int
) -> list[Evaluation]:
    client_id = (await find_client(store, number)).id if number else None
    return await store.list_evaluations(agent_id, client_id, None, include_deleted, limit)


async def remove_evaluation(
    store: SqliteStore,
    call: str,
    direction: Direction,
    *,
    operator: str,
    reason: str,
    now: datetime,
    rules: RatingRules,
) -> Evaluation:
    """Soft-delete one evaluation; the reason and the operator go into its audit trail."""
    if not reason.strip():
        raise ValueError("a reason is required: it is kept in the audit trail")
    record = await store.get_call(call)
    if record is None:
        raise LookupError(f"no call {call!r} on record (see `callcenter calls list`)")
    refusal = may_rate(record, Rater("operator", operator), now, rules)
    if refusal is not None:
        raise LookupError(f"call {call} has no evaluation to remove ({refusal})")
    removed = await store.delete_evaluation(call, direction, f"operator:{operator}", reason.strip(), now)
    if removed is None:
        raise LookupError(f"call {call} has no {direction} evaluation")
    return removed


def render(evaluations: Sequence[Evaluation]) -> str:
    if not evaluations:
        return "no evaluations"
    lines = [f"{'CALL':<22} {'DIRECTION':<16} {'AGENT':<6} {'CLIENT':<6} {'UPDATED (UTC)':<19}  STATUS   SCORES"]
    for e in evaluations:
        scores = " ".join(f"{k}={v}" for k, v in e.scores.items())
        status = "deleted" if e.deleted else "live"
        lines.append(
            f"{e.call_uniqueid:<22} {e.direction:<16} {e.agent_id:<6} {e.client_id:<6} "
            f"{e.updated_at:%Y-%m-%d %H:%M:%S}  {status:<7}  {scores}"
        )
    return "\n".join(lines)


def to_json(evaluations: Sequence[Evaluation]) -> str:
    return json.dumps(
        [
            {
                "id": e.id,
                "call": e.call_uniqueid,
                "direction": e.direction,
                "agent": e.agent_id,
                "client": e.client_id,
                "scores": dict(e.scores),
                "created_at": e.created_at.isoformat(),
                "updated_at": e.updated_at.isoformat(),
                "deleted_at": e.deleted_at.isoformat() if e.deleted_at else None,
            }
            for e in evaluations
        ],
        indent=2,
    )
